// The golden check of one net (tests/nets/golden_test.cpp, tests/cuda/golden_cuda_test.cpp):
// the net with timm's formula weights against timm 1.0.22's float64 outputs
// (tests/fixtures/golden/<net>.json; the formula is in docs/nets.md section 11), on either device.
// It prints each quantity's worst error against its tolerance and fails the test above one.
#pragma once

#include <string>

#include "core/device.h"
#include "core/dtype.h"

namespace dybat::test {

// weight_sum first (it proves the formula and the key order), then eval logits, then one
// training-mode forward/backward: logits, per-sample and mean loss, every parameter's gradient
// L2 norm, and every running statistic's sum after the forward. Float32 must meet the tolerances
// timm's own float32 forward meets; float64 must meet them at least 1e4 times tighter.
void check_golden(const std::string& net_name, DType dtype, Device device);

}  // namespace dybat::test
