// Argument checks shared by the batch-norm dispatchers (kernels/batchnorm.cpp and the
// synchronised variant, kernels/batchnorm_sync.cpp). Internal to kernels/.
#pragma once

#include "core/tensor.h"

namespace dybat::bn_checks {

// The channel count of x ([N, C] or [N, C, H, W]) after checking its rank.
inline int64_t channels_of(const Tensor& x, const char* op) {
  DYBAT_CHECK(x.dim() == 2 || x.dim() == 4, op, ": x must be [N, C] or [N, C, H, W], got ", shape_str(x.shape()));
  return x.size(1);
}

// A per-channel vector: defined, [C], contiguous, x's dtype and device.
inline void check_channel_vector(const Tensor& v, int64_t c, const Tensor& x, const char* op, const char* what) {
  DYBAT_CHECK(v.defined(), op, ": ", what, " is undefined");
  DYBAT_CHECK(v.dim() == 1 && v.size(0) == c && v.is_contiguous(), op, ": ", what, " must be a contiguous [", c,
              "], got ", v.str());
  check_same_device(x, v, op);
  check_same_dtype(x, v, op);
}

// Optional tensor shaped like x (residual, dx, dresidual).
inline void check_like_x(const Tensor& t, const Tensor& x, const char* op, const char* what) {
  if (!t.defined()) return;
  DYBAT_CHECK(t.shape() == x.shape() && t.is_contiguous(), op, ": ", what, " must be contiguous ", shape_str(x.shape()),
              ", got ", t.str());
  check_same_device(x, t, op);
  check_same_dtype(x, t, op);
}

}  // namespace dybat::bn_checks
