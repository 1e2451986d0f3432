// Pooling: max_pool2d, avg_pool2d and adaptive average pooling (global pooling included).
//
// Contract
//   x [N, C, H, W] contiguous; out [N, C, H_out, W_out] fresh; floor mode; dilation 1.
//   max_pool2d: padded cells are -inf (never win); ties go to the *first* maximum of the window in
//   row-major order (strict > scan), so an all-zero window after ReLU sends its gradient to its
//   top-left valid cell. Saves the argmax (int64 flat index into H*W per plane); dx assigned.
//   The backward takes the forward's parameters too: the CUDA kernel gathers, for each input
//   cell, from the windows that contain it (deterministic, no atomics), which needs the geometry.
//   avg_pool2d: count_include_pad = true (PyTorch's default): divisor kH*kW always.
//   adaptive_avg_pool2d: output cell (i, j) averages rows [floor(i H/oh), ceil((i+1) H/oh)) and
//   the same for columns; (1, 1) is global average pooling. dx assigned.
//   Reference: kernels/reference/pool.cpp. Fast kernels: kernels/pool_cpu.cpp and
//   kernels/pool.cu, with the window arithmetic they share in kernels/pool_math.h.
#pragma once

#include "core/tensor.h"

namespace dybat {

struct Pool2dParams {
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
};

// Differentiable.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

// Kernel level.
void max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out, const Tensor& argmax);
void max_pool2d_backward(const Tensor& dout, const Tensor& argmax, const Pool2dParams& p, const Tensor& dx);
void avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out);
void avg_pool2d_backward(const Tensor& dout, const Pool2dParams& p, const Tensor& dx);
void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& out);
void adaptive_avg_pool2d_backward(const Tensor& dout, const Tensor& dx);

}  // namespace dybat
