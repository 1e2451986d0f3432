// Elementwise arithmetic with NumPy broadcasting: add, sub, mul, div of two tensors, and the same
// with a scalar.
//
// Contract
//   a, b: any shapes that broadcast (trailing dims equal or 1); same dtype and device.
//   out:  the broadcast shape, contiguous, a's dtype. Nothing is done in place.
//   Saved for backward: mul saves a and b; div saves b and the output; add/sub save nothing.
//   Backward: da = reduce(dout * d(op)/da) summed over the axes a was broadcast along (assigned).
// Float32 and float64 on the CPU; float32 (and bf16) on CUDA.
// Reference: kernels/reference/elementwise.cpp. Fast kernels: kernels/elementwise_cpu.cpp and
// kernels/elementwise.cu.
#pragma once

#include "core/tensor.h"

namespace dybat {

enum class BinaryOp { Add, Sub, Mul, Div };

// Differentiable.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& a);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// Kernel level (device dispatch, no autograd): out = a op b with broadcasting; out must have the
// broadcast shape and be contiguous. out = alpha * a + beta (scalar affine).
void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void affine_forward(const Tensor& a, double alpha, double beta, const Tensor& out);

}  // namespace dybat
