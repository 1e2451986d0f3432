// The schedule checks the CPU and CUDA tests share (tests/train/selection_test.cpp,
// tests/cuda/selection_parity_test.cpp): the top-k kernel on a host vector, and a whole DyBAT
// schedule driven by synthetic losses against the reference loop (train/reference/dybat.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/device.h"

namespace dybat::test {

// The k ids select_top_k puts first, for scores `score` on device `d`.
std::vector<int64_t> top_k_on(const std::vector<float>& score, int64_t k, Device d);
// Drives whole schedules (several b, delta, epochs) on `d` with synthetic losses and checks each
// trace and the final scores against the reference loop run on the same losses.
void check_schedule(Device d);

}  // namespace dybat::test
