// Dropout, the reference. Element i is kept when its uniform draw u_i in [0, 1) is at least p,
// with u_i the i-th number of the Philox stream (seed, offset) (core/philox.h: philox_uniform).
// The mask depends on (seed, offset, i) alone, not on the shape, the device or the launch, so
// the backward regenerates it instead of storing it. Kept values are scaled by 1 / (1 - p) so
// the expected output equals the input; p = 1 drops everything.
#include "kernels/reference/dropout.h"

#include "core/philox.h"

namespace dybat::ref {

bool dropout_keeps(uint64_t seed, uint64_t offset, int64_t i, double p) {
  return philox_uniform(seed, offset, static_cast<uint64_t>(i)) >= p;
}

void dropout_forward(int64_t n, double p, uint64_t seed, uint64_t offset, const double* inp, double* out) {
  const double scale = 1.0 / (1.0 - p);
  for (int64_t i = 0; i < n; ++i) out[i] = dropout_keeps(seed, offset, i, p) ? inp[i] * scale : 0.0;
}

void dropout_backward(int64_t n, double p, uint64_t seed, uint64_t offset, const double* dout, double* dinp) {
  const double scale = 1.0 / (1.0 - p);
  for (int64_t i = 0; i < n; ++i)
    if (dropout_keeps(seed, offset, i, p)) dinp[i] += dout[i] * scale;
}

}  // namespace dybat::ref
