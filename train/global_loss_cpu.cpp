// CPU twins of the global batch-loss kernels: the sum in double in sample order, as
// record_batch_loss sums, and the record from the reduced sums.
#include <cmath>

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/global_loss.h"

namespace dybat::cpu {

void batch_loss_sums(const Tensor& losses, const Tensor& sums) {
  const int64_t n = losses.numel();
  double* s = sums.data<double>();
  s[0] = dispatch_float(losses.dtype(), "batch_loss_sums", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* l = losses.data<T>();
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(l[i]);
    return acc;
  });
  s[1] = static_cast<double>(n);
}

void record_step_sums(const Tensor& sums, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step) {
  int64_t* c = counters.data<int64_t>();
  const int64_t slot = c[1], step = c[0] + 1;
  DYBAT_CHECK(slot >= 0 && slot < trace_ids.numel(), "record_step_sums: trace slot ", slot, " outside the buffer of ",
              trace_ids.numel());
  const double* s = sums.data<double>();
  const float mean = static_cast<float>(s[0] / s[1]);
  const int64_t id = *batch_id.data<int64_t>();
  DYBAT_CHECK(id >= 0 && id < score.numel(), "record_step_sums: batch id ", id, " outside [0, ", score.numel(), ")");
  score.data<float>()[id] = mean;
  trace_ids.data<int64_t>()[slot] = id;
  trace_loss.data<float>()[slot] = mean;
  int64_t* bad = bad_step.data<int64_t>();
  if (!std::isfinite(mean) && *bad == 0) *bad = step;
  c[0] += 1;
  c[1] += 1;
}

}  // namespace dybat::cpu
