// Shared helpers for the test suite: random tensors, closeness checks, GPU-skip macro.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/device.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernels/gradcheck.h"

namespace dybat::test {

// Uniform random float64 CPU tensor in [lo, hi), requiring grad if asked.
Tensor rand(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0, bool requires_grad = false,
            DType dtype = DType::Float64);
// Max |a - b| over all elements (both converted to float64 on the host).
double max_abs_diff(const Tensor& a, const Tensor& b);
double max_abs(const Tensor& a);

// The message of the dybat::Error that `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

}  // namespace dybat::test

// Runs the gradient checker and reports the worst element when it fails.
#define EXPECT_GRADCHECK(fn, inputs, ...)                                   \
  do {                                                                      \
    auto _r = ::dybat::gradcheck(fn, inputs, ##__VA_ARGS__);                \
    EXPECT_TRUE(_r.ok) << "worst: " << _r.worst_where << "\n" << _r.report; \
  } while (0)

// Skips a CUDA test with a reason where no GPU exists (or the build has no CUDA backend).
#define DYBAT_REQUIRE_GPU()                                                                           \
  do {                                                                                                \
    if (!::dybat::cuda_available()) GTEST_SKIP() << "no CUDA device available in this build/machine"; \
  } while (0)
