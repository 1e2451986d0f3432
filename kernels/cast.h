// Casts between the floating dtypes as ops: the conversions mixed precision runs on (float32 ->
// bfloat16 on the way into a bf16 convolution or matrix product, bfloat16 -> float32 on the way
// out), and a differentiable cast whose backward converts the gradient back.
//
// Contract
//   cast(x, dtype): x in `dtype`, a fresh contiguous tensor of x's shape (x itself when it already
//   has that dtype). Floating dtypes only (float32, float64, bfloat16).
//   To bfloat16: round to nearest, ties to even (PyTorch's rule); NaN stays a NaN (the quiet NaN
//   0x7fc0); values past bf16's largest finite value round to +-inf as they would in a wider
//   mantissa (bf16 has float32's exponent range). float64 goes through float32 first, as PyTorch's
//   .to(torch.bfloat16) of a double tensor does. From bfloat16: exact.
//   Backward: dx = cast(dout, x.dtype()) (assigned). Per-element rounding: core/dtype.h (bf16).
//   Kernel level (contiguous, same shape and device): to_bf16(x, out) with out bfloat16,
//   from_bf16(x, out) with x bfloat16; the CPU loop and the CUDA kernel use the same rounding code,
//   so both give the same bits.
#pragma once

#include "core/tensor.h"

namespace dybat {

// Differentiable.
Tensor cast(const Tensor& x, DType dtype);
inline Tensor to_bf16(const Tensor& x) { return cast(x, DType::BFloat16); }

// Kernel level.
void to_bf16(const Tensor& x, const Tensor& out);    // x float32/float64 -> out bfloat16
void from_bf16(const Tensor& x, const Tensor& out);  // x bfloat16 -> out float32/float64

}  // namespace dybat
