// CPU twins of the shared selection-method kernels (see select_common.h).
#include <cmath>

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/select_common.h"

namespace dybat::cpu {

void record_sample_loss(const Tensor& losses, const Tensor& counters, const Tensor& trace_ids,
                        const Tensor& trace_loss, const Tensor& bad_step) {
  const int64_t n = losses.numel();
  const double sum = dispatch_float(losses.dtype(), "record_sample_loss", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* l = losses.data<T>();
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(l[i]);
    return s;
  });
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  int64_t* c = counters.data<int64_t>();
  const int64_t step = c[0] + 1, slot = c[1];
  if (slot >= 0 && slot < trace_ids.numel()) {
    trace_ids.data<int64_t>()[slot] = -1;
    trace_loss.data<float>()[slot] = mean;
  }
  int64_t* bad = bad_step.data<int64_t>();
  if (!std::isfinite(mean) && *bad == 0) *bad = step;
  c[0] += 1;
  c[1] += 1;
}

}  // namespace dybat::cpu
