// Metrics: device dispatch, checks, and the split accumulator (see metrics.h).
#include "train/metrics.h"

#include <algorithm>

#include "core/dispatch.h"
#include "train/backend.h"

namespace dybat {

void metrics_accumulate(const Tensor& logits, const Tensor& labels, const Tensor& losses, int64_t top_k,
                        const Tensor& acc) {
  DYBAT_CHECK(logits.dim() == 2 && logits.size(0) > 0 && logits.size(1) > 0, "metrics: logits must be [n, c], got ",
              shape_str(logits.shape()));
  int64_t n = logits.size(0);
  DYBAT_CHECK(labels.dtype() == DType::Int64 && labels.shape() == Shape{n}, "metrics: labels must be int64 [", n,
              "], got ", labels.str());
  DYBAT_CHECK(losses.shape() == Shape{n} && losses.dtype() == logits.dtype(), "metrics: losses must be ",
              dtype_name(logits.dtype()), " [", n, "], got ", losses.str());
  DYBAT_CHECK(acc.dtype() == DType::Float64 && acc.shape() == Shape{5} && acc.is_contiguous(),
              "metrics: the accumulator must be float64 [5], got ", acc.str());
  DYBAT_CHECK(top_k >= 1, "metrics: top_k must be >= 1, got ", top_k);
  check_same_device(logits, labels, "metrics");
  check_same_device(logits, losses, "metrics");
  check_same_device(logits, acc, "metrics");
  DYBAT_DISPATCH_DEVICE(logits.device(), metrics_accumulate, logits.contiguous(), labels.contiguous(),
                        losses.contiguous(), top_k, acc);
}

MetricsAccumulator::MetricsAccumulator(Device device, int64_t num_classes)
    : top_k_(std::min<int64_t>(5, num_classes)), acc_(Tensor::zeros({5}, DType::Float64, device)) {
  DYBAT_CHECK(num_classes >= 0, "metrics: need at least one class, got ", num_classes);
}

void MetricsAccumulator::reset() { acc_.zero_(); }

void MetricsAccumulator::add(const Tensor& logits, const Tensor& labels, const Tensor& losses) {
  if (top_k_ == 0 && logits.dim() == 2) top_k_ = std::min<int64_t>(5, logits.size(1));
  metrics_accumulate(logits, labels, losses, top_k_, acc_);
}

SplitMetrics MetricsAccumulator::result() const {
  std::vector<double> a = acc_.to_vector<double>();
  SplitMetrics m;
  m.batches = static_cast<int64_t>(a[0]);
  if (m.batches == 0) return m;
  double inv = 1.0 / a[0];
  m.loss = a[1] * inv;
  m.top1 = 100.0 * a[2] * inv;
  m.top5 = 100.0 * a[3] * inv;
  m.auroc = a[4] * inv;
  return m;
}

}  // namespace dybat
