// Mixed precision for a whole net: which dtype its convolutions and matrix products compute in.
//
// set_compute_dtype(net, BFloat16) makes every Conv2d and Linear in `net` cast its input, weight
// and bias to bfloat16, compute there (cuDNN / cuBLAS on tensor cores, float32 accumulation) and
// cast its output back to the input's dtype. The master weights and their gradients stay float32
// (the casts are differentiable: a bf16 weight gradient is widened and accumulated into the float32
// .grad), as do BatchNorm (statistics and running buffers), activations between layers, the loss
// and the optimizer. Float32 restores plain float32 layers. Bfloat16 layers run on CUDA only; on
// the CPU their forward stops with a clear error.
//
// This is the first step of --precision bf16: the tensor-core math. Keeping activations in bf16
// between layers (half the memory traffic) needs bf16 BatchNorm, activation, pooling and
// elementwise kernels; then a layer would keep a bf16 input in bf16 (cast is a no-op for it).
#pragma once

#include "core/dtype.h"
#include "layers/module.h"

namespace dybat {

// Sets the compute dtype (Float32 or BFloat16) of every Conv2d and Linear in `net`; returns how
// many layers it set.
int64_t set_compute_dtype(Module& net, DType compute);

// Checks that `d` is a compute dtype a layer accepts (Float32 or BFloat16) and returns it.
DType check_compute_dtype(DType d, const char* layer);

// "fp32" -> Float32, "bf16" -> BFloat16 (throws on anything else).
DType precision_from_name(const std::string& name);

}  // namespace dybat
