// Sums over axes, the reference. Input element idx adds into the output element with the
// reduced coordinates of idx set to 0: exactly broadcasting run backwards, so the output index
// is broadcast_index(dims, reduced_dims, idx) (elementwise.h). The backward of a sum hands every
// input element the gradient of the one output it went into.
#include "kernels/reference/reduce.h"

#include <cstddef>

namespace dybat::ref {

Dims reduced_dims(const Dims& dims, const std::vector<bool>& reduced) {
  Dims out = dims;
  for (size_t k = 0; k < dims.size(); ++k)
    if (reduced[k]) out[k] = 1;
  return out;
}

void sum_forward(const Dims& dims, const std::vector<bool>& reduced, double scale, const double* inp, double* out) {
  const Dims out_dims = reduced_dims(dims, reduced);
  for (int64_t o = 0; o < element_count(out_dims); ++o) out[o] = 0.0;
  for (int64_t i = 0; i < element_count(dims); ++i) out[broadcast_index(dims, out_dims, i)] += inp[i];
  for (int64_t o = 0; o < element_count(out_dims); ++o) out[o] *= scale;
}

void sum_backward(const Dims& dims, const std::vector<bool>& reduced, double scale, const double* dout, double* dinp) {
  const Dims out_dims = reduced_dims(dims, reduced);
  for (int64_t i = 0; i < element_count(dims); ++i) dinp[i] += scale * dout[broadcast_index(dims, out_dims, i)];
}

}  // namespace dybat::ref
