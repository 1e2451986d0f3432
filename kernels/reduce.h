// Sums and means over dimensions.
//
// Contract
//   x: any shape; dims: the axes to reduce (negative counts from the end; empty = all axes).
//   out: x's shape without the reduced axes (kept as size 1 with keepdim); a fresh tensor.
//   Accumulation is in double on the CPU (float32 inputs too), in a fixed order, so results are
//   bit-identical run to run for the same thread count.
//   Backward: dx = dout broadcast back over the reduced axes (divided by their size for mean).
//   Reference: kernels/reference/reduce.cpp. Fast kernels: kernels/reduce_cpu.cpp and
//   kernels/reduce.cu.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace dybat {

// Differentiable.
Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);

// Sums `g` down to `shape` (the inverse of broadcasting `shape` up to g's shape). Used by the
// backward of broadcasting ops. Not differentiable.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

// Kernel level: out[kept] = scale * sum over reduced axes of x; `reduce_mask[d]` marks reduced
// axes; out is contiguous with x's shape where reduced axes have size 1.
void sum_forward(const Tensor& x, const std::vector<bool>& reduce_mask, double scale, const Tensor& out);

}  // namespace dybat
