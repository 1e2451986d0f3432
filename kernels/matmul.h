// Matrix products: matmul of 2-d tensors and linear layers, on OpenBLAS (CPU) and cuBLAS (CUDA).
//
// Contract
//   matmul(a [M,K], b [K,N]) -> [M,N].  linear(x [N,in], w [out,in], bias [out] or undefined)
//   -> y = x w^T + bias, [N,out]. Inputs must be contiguous (the ops make them so).
//   Saved for backward: both operands. dx = dy w (assigned); dw += dy^T x and dbias += sum_n dy
//   (accumulated into the leaf's .grad, see autograd.h).
//   On CUDA, TF32 is used for matmuls only when backend_settings().tf32_matmul is on. bfloat16
//   operands (mixed precision) run on CUDA only: cuBLAS with float32 accumulation.
//   Reference: kernels/reference/matmul.cpp. Fast kernels: kernels/matmul_cpu.cpp (gemm_cpu.h)
//   and kernels/matmul.cu.
#pragma once

#include "core/tensor.h"

namespace dybat {

// Differentiable.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// Kernel level: C = alpha * op(A) op(B) + beta * C, row-major, op = transpose when the flag is
// set. A, B, C contiguous 2-d, same dtype and device; C is [M,N].
void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c);
// out[n, j] += sum_i x[i, j] for a contiguous 2-d x [rows, cols]; out [cols] (bias gradient).
void sum_rows_accumulate(const Tensor& x, const Tensor& out);

}  // namespace dybat
