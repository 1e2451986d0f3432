// Softmax cross-entropy with per-sample losses.
//
// Contract
//   logits [N, C] float, labels [N] int64 with values in [0, C) (checked on the CPU; on CUDA an
//   out-of-range label yields NaN for that sample rather than a host synchronisation).
//   out [N]: l_i = logsumexp(z_i) - z_i[y_i], computed stably as m + log(sum exp(z - m)) - z[y]
//   with m = max_j z_ij (so [1000, 0, -1000] gives 1000, not inf).
//   Saved for backward: logits and labels. dlogits_ij = dl_i (softmax(z_i)_j - [j = y_i])
//   (assigned); labels get no gradient. The batch loss is mean(cross_entropy(z, y)).
//   Reference: kernels/reference/loss.cpp. Fast kernels: kernels/loss_cpu.cpp and
//   kernels/loss.cu, with the per-row math they share in kernels/loss_math.h.
#pragma once

#include "core/tensor.h"

namespace dybat {

// Differentiable in logits. Returns the per-sample losses [N].
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);

// Kernel level.
void cross_entropy_forward(const Tensor& logits, const Tensor& labels, const Tensor& losses);
void cross_entropy_backward(const Tensor& dlosses, const Tensor& logits, const Tensor& labels, const Tensor& dlogits);

}  // namespace dybat
