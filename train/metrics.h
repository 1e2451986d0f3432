// Evaluation metrics with torchmetrics 0.11.1's semantics, as the DyBAT script logs them: per
// batch, cross-entropy loss, top-1 and top-5 accuracy (average='weighted') and AUROC
// (average='weighted'), then the mean over the batches of a split.
//
// Contract (see docs/data-and-metrics.md section 3)
//   logits [n, c] float32/float64, labels [n] int64, losses [n] (per-sample cross-entropy), all on
//   one device. Per batch:
//   - top-k = fraction of samples whose label is among the k largest logits (ties to the lower
//     class index), which is what 'weighted' accuracy reduces to; k = min(5, c) for "top-5";
//   - AUROC: scores = softmax(logits) unless every logit of the batch lies in [0, 1] (then the
//     logits themselves); per class one-vs-rest with ties counted one half; 0 for a class that is
//     absent or alone in the batch; weighted by the class counts of the batch;
//   - loss = mean of `losses`, rounded to their dtype.
//   metrics_accumulate adds {1, loss, top-1, top-k, AUROC} of one batch to acc (float64 [5] on the
//   same device) without any host read; MetricsAccumulator wraps that for a whole split.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace dybat {

// Means over the batches of a split: loss, top-1 and top-5 in percent, AUROC in [0, 1].
struct SplitMetrics {
  int64_t batches = 0;
  double loss = 0, top1 = 0, top5 = 0, auroc = 0;
};

// Kernel level.
void metrics_accumulate(const Tensor& logits, const Tensor& labels, const Tensor& losses, int64_t top_k,
                        const Tensor& acc);

// Sums of per-batch values kept on the device; result() is the only host read.
class MetricsAccumulator {
 public:
  // num_classes 0: taken from the logits of the first add (top-5, or top-k with fewer classes).
  explicit MetricsAccumulator(Device device, int64_t num_classes = 0);
  void reset();
  void add(const Tensor& logits, const Tensor& labels, const Tensor& losses);
  SplitMetrics result() const;
  int64_t top_k() const { return top_k_; }

 private:
  int64_t top_k_;
  Tensor acc_;  // float64 [5] on the device
};

}  // namespace dybat
