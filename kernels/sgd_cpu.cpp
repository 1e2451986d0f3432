// CPU SGD update: one elementwise pass per tensor.
#include "core/dispatch.h"
#include "kernels/sgd.h"
#include "kernels/sgd_math.h"

namespace dybat::cpu {

void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt) {
  bool use_buf = opt.momentum != 0.0;
  dispatch_float(params[0].dtype(), "sgd_update", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    SgdScalars<T> s{static_cast<T>(opt.lr), static_cast<T>(opt.momentum), static_cast<T>(opt.weight_decay),
                    opt.nesterov, use_buf};
    for (size_t t = 0; t < params.size(); ++t) {
      if (!grads[t].defined()) continue;
      T* p = params[t].data<T>();
      const T* g = grads[t].data<T>();
      T* b = use_buf ? bufs[t].data<T>() : nullptr;  // only read when use_buf
      int64_t n = params[t].numel();
#pragma omp parallel for schedule(static) if (n > 32768)
      for (int64_t i = 0; i < n; ++i) sgd_step(p[i], g[i], b ? b + i : nullptr, s);
    }
  });
}

}  // namespace dybat::cpu
