// The golden tests on the GPU (support/golden_check.h): every net in float32 against timm's
// float64 outputs, with the tolerances of the CPU's float32 run.
#include <gtest/gtest.h>

#include "core/settings.h"
#include "support/golden_check.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;

// The same checks in float32 on the GPU, with TF32 off (timm's float32 reference tolerances
// assume full float32 arithmetic) and without cuDNN's FFT and Winograd algorithms, whose float32
// error (about 1e-5 to 1e-4 relative per convolution) can exceed those tolerances over a deep net.
class CudaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGolden, MatchesTimmInFloat32) {
  DYBAT_REQUIRE_GPU();
  struct NoTf32 {
    BackendSettings saved = backend_settings();
    NoTf32() {
      backend_settings().tf32_conv = backend_settings().tf32_matmul = false;
      backend_settings().conv_exclude_fft_winograd = true;
    }
    ~NoTf32() { backend_settings() = saved; }
  } no_tf32;
  check_golden(GetParam(), DType::Float32, Device::cuda(0));
}

INSTANTIATE_TEST_SUITE_P(Nets, CudaGolden,
                         ::testing::Values("resnet18", "resnet50", "efficientnet_b4", "efficientnetv2_s",
                                           "mobilenetv3_small_100"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
