// Helpers for the CUDA parity tests of the core ops, which compare each CUDA kernel with the
// reference tier (support/reference_util.h): moving float64 CPU tensors to the GPU as float32 and
// comparing with a tolerance scaled to the reference's magnitude.
#pragma once

#include <algorithm>

#include "core/tensor.h"
#include "support/reference_util.h"
#include "support/test_util.h"

namespace dybat::test {

// A float64 CPU tensor as a float32 tensor on cuda:0 (gradient flag as asked).
inline Tensor to_gpu32(const Tensor& t, bool requires_grad = false) {
  Tensor g = t.detach().to(DType::Float32).to(Device::cuda(0));
  if (requires_grad) g.set_requires_grad(true);
  return g;
}

// `t` rounded through float32 (still float64 on the CPU): a reference input that the float32
// GPU input represents exactly, so a comparison measures only the computation.
inline Tensor round32(const Tensor& t, bool requires_grad = false) {
  Tensor r = t.detach().to(DType::Float32).to(DType::Float64);
  if (requires_grad) r.set_requires_grad(true);
  return r;
}

// |gpu - ref| <= tol * max(1, max|ref|), elementwise max, with the numbers in the failure message.
inline ::testing::AssertionResult close_to_ref(const Tensor& gpu, const Tensor& ref, double tol) {
  if (gpu.shape() != ref.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(gpu.shape()) << " vs " << shape_str(ref.shape());
  double scale = std::max(1.0, max_abs(ref));
  double diff = max_abs_diff(gpu.cpu(), ref);
  if (diff <= tol * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs diff " << diff << " > " << tol << " * " << scale;
}

}  // namespace dybat::test
