// Dropout, the reference: the Philox mask of core/philox.h and the 1 / (1 - p) scaling, in plain
// loops in double (dropout.cpp). The fast versions are kernels/dropout_cpu.cpp and
// kernels/dropout.cu, which draw the very same mask. Conventions: see conv2d.h.
#pragma once

#include <cstdint>

namespace dybat::ref {

// True when element i of the stream (seed, offset) is kept at drop probability p.
bool dropout_keeps(uint64_t seed, uint64_t offset, int64_t i, double p);
// out[i] = inp[i] / (1 - p) where kept, else 0, for i < n.
void dropout_forward(int64_t n, double p, uint64_t seed, uint64_t offset, const double* inp, double* out);
// dinp[i] += dout[i] / (1 - p) where kept.
void dropout_backward(int64_t n, double p, uint64_t seed, uint64_t offset, const double* dout, double* dinp);

}  // namespace dybat::ref
