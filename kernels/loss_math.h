// Per-row math of softmax cross-entropy, shared by the CPU loops and the CUDA kernels.
//
// With m = max_j z_j and s = sum_j exp(z_j - m) (so every exponent is <= 0 and s >= 1):
//   loss = m + log(s) - z_y,   dloss/dz_j = exp(z_j - m) / s - [j = y].
// Acc is the accumulation type (double on the CPU; the input type on CUDA).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace dybat {

template <class Acc>
DYBAT_HD Acc ce_loss(Acc m, Acc s, Acc z_label) {
  return m + log(s) - z_label;
}

// Gradient of one logit, scaled by the upstream gradient of the row's loss.
template <class Acc>
DYBAT_HD Acc ce_grad(Acc z, Acc m, Acc inv_s, bool is_label, Acc dloss) {
  return dloss * (exp(z - m) * inv_s - (is_label ? Acc(1) : Acc(0)));
}

// True when a label indexes a class of a C-way output.
DYBAT_HD bool ce_label_valid(int64_t y, int64_t classes) { return y >= 0 && y < classes; }

}  // namespace dybat
