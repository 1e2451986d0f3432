// CPU dropout: the Philox keep decision per element (math in dropout_math.h).
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/dropout.h"
#include "kernels/dropout_math.h"

namespace dybat::cpu {

void dropout_apply(const Tensor& x, double p, uint64_t seed, uint64_t offset, const Tensor& out) {
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > 8192)
    for (int64_t i = 0; i < n; ++i)
      po[i] = dropout_value(px[i], dropout_keep(seed, offset, static_cast<uint64_t>(i), p), scale);
  });
}

}  // namespace dybat::cpu
