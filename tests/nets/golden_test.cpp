// Golden tests: each net against timm 1.0.22's float64 outputs for formula weights
// (tests/fixtures/golden/<net>.json; the formula is in docs/nets.md section 11).
//
// Every net in float32 and float64 on the CPU. Float32 must meet the tolerances timm's own float32
// forward meets; float64 must meet them at least 1e4 times tighter.
// The check itself is support/golden_check.h; the GPU's run is tests/cuda/golden_cuda_test.cpp.
#include <gtest/gtest.h>

#include <ostream>

#include "support/golden_check.h"

using namespace dybat;
using namespace dybat::test;

namespace {

struct GoldenCase {
  std::string net;
  DType dtype;
};

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) {
  return info.param.net + "_" + dtype_name(info.param.dtype);
}

// How gtest prints a case (instead of its bytes).
[[maybe_unused]] void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.net << " " << dtype_name(c.dtype); }

class Golden : public ::testing::TestWithParam<GoldenCase> {};

}  // namespace

TEST_P(Golden, MatchesTimm) { check_golden(GetParam().net, GetParam().dtype, Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(
    Nets, Golden,
    ::testing::Values(GoldenCase{"resnet18", DType::Float32}, GoldenCase{"resnet18", DType::Float64},
                      GoldenCase{"resnet50", DType::Float32}, GoldenCase{"resnet50", DType::Float64},
                      GoldenCase{"efficientnet_b4", DType::Float32}, GoldenCase{"efficientnet_b4", DType::Float64},
                      GoldenCase{"efficientnetv2_s", DType::Float32}, GoldenCase{"efficientnetv2_s", DType::Float64},
                      GoldenCase{"mobilenetv3_small_100", DType::Float32},
                      GoldenCase{"mobilenetv3_small_100", DType::Float64}),
    case_name);
