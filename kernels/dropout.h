// Dropout with a counter-based mask: element i of the flattened input is kept iff the Philox
// stream (seed, offset) gives u_i >= p, and kept values are scaled by 1/(1-p). The mask depends
// only on (seed, offset, i), so CPU and CUDA agree bit for bit and launch shape does not matter.
//
// Contract
//   x any shape (made contiguous); out fresh. In eval mode (training = false) or p = 0 it returns
//   x itself. p in [0, 1]; p = 1 zeroes everything (and its gradient). Saved for backward:
//   (seed, offset); the mask is regenerated. dx = dout * mask / (1-p), assigned.
//   The uniform draw is philox_uniform (53 bits), element i of the flattened tensor.
//   Per-element math: dropout_math.h.
//   Reference: kernels/reference/dropout.cpp. Fast kernels: kernels/dropout_cpu.cpp and
//   kernels/dropout.cu.
#pragma once

#include <cstdint>

#include "core/philox.h"
#include "core/tensor.h"

namespace dybat {

// Differentiable. Draws one stream offset from g per call.
Tensor dropout(const Tensor& x, double p, bool training, Generator& g);

// Kernel level: out = x * keep(i) * scale with keep(i) = uniform(seed, offset, i) >= p.
void dropout_apply(const Tensor& x, double p, uint64_t seed, uint64_t offset, const Tensor& out);

}  // namespace dybat
