// CPU twins of the schedule kernels: the batch loss in double in sample order, the top-k
// selection by a sort under the same total order the CUDA kernel ranks by, and the versions that
// keep the step in (host) memory as the CUDA ones keep it in device memory.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/selection.h"

namespace dybat::cpu {

void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step) {
  int64_t n = losses.numel();
  double sum = dispatch_float(losses.dtype(), "record_batch_loss", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* l = losses.data<T>();
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(l[i]);
    return s;
  });
  float mean = static_cast<float>(sum / static_cast<double>(n));
  int64_t id = *batch_id.data<int64_t>();
  DYBAT_CHECK(id >= 0 && id < score.numel(), "record_batch_loss: batch id ", id, " outside [0, ", score.numel(), ")");
  score.data<float>()[id] = mean;
  trace_ids.data<int64_t>()[slot] = id;
  trace_loss.data<float>()[slot] = mean;
  int64_t* bad = bad_step.data<int64_t>();
  if (!std::isfinite(mean) && *bad == 0) *bad = step;
}

void select_top_k(const Tensor& score, int64_t k, const Tensor& order) {
  int64_t b = score.numel();
  const float* s = score.data<float>();
  std::vector<int64_t> ids(static_cast<size_t>(b));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int64_t i, int64_t j) { return ranks_before(s[i], i, s[j], j); });
  std::sort(ids.begin(), ids.begin() + k);
  std::copy(ids.begin(), ids.begin() + k, order.data<int64_t>());
}

void begin_schedule_step(const Tensor& score, int64_t k, const Tensor& order, const Tensor& counters,
                         const Tensor& chosen) {
  int64_t* c = counters.data<int64_t>();
  const int64_t b = score.numel();
  int64_t pass = 0, pos = 0;
  schedule_place(b, k, c[0], pass, pos);
  if (pass > 0 && pos == 0 && k < b) cpu::select_top_k(score, k, order);
  c[2] = order.data<int64_t>()[pos];
}

void record_step_loss(const Tensor& losses, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step) {
  int64_t* c = counters.data<int64_t>();
  const int64_t slot = c[1];
  DYBAT_CHECK(slot >= 0 && slot < trace_ids.numel(), "record_step_loss: trace slot ", slot, " outside the buffer of ",
              trace_ids.numel());
  cpu::record_batch_loss(losses, batch_id, c[0] + 1, score, trace_ids, trace_loss, slot, bad_step);
  c[0] += 1;
  c[1] += 1;
}

}  // namespace dybat::cpu
