// CPU metrics: the shared per-row and per-pair math (metrics_math.h) in OpenMP loops, then the
// serial finish that adds the batch's values to the accumulator.
#include <vector>

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/metrics.h"
#include "train/metrics_math.h"

namespace dybat::cpu {

void metrics_accumulate(const Tensor& logits, const Tensor& labels, const Tensor& losses, int64_t top_k,
                        const Tensor& acc) {
  int64_t n = logits.size(0), c = logits.size(1);
  dispatch_float(logits.dtype(), "metrics", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* z = logits.data<T>();
    const int64_t* y = labels.data<int64_t>();
    bool raw = true;
    for (int64_t i = 0; i < n * c && raw; ++i) raw = in_unit_interval(z[i]);
    std::vector<T> P(static_cast<size_t>(n * c));
    std::vector<uint8_t> hits(static_cast<size_t>(n));
    std::vector<int64_t> cnt2(static_cast<size_t>(n)), scratch(static_cast<size_t>(2 * c));
#pragma omp parallel for schedule(static) if (n * c > 32768)
    for (int64_t i = 0; i < n; ++i) metrics_row(z + i * c, c, y[i], raw, top_k, P.data() + i * c, &hits[i]);
#pragma omp parallel for schedule(static) if (n * n > 32768)
    for (int64_t i = 0; i < n; ++i) cnt2[i] = auroc_pair_count(P.data(), y, n, c, i);
    metrics_finish(losses.data<T>(), y, cnt2.data(), hits.data(), n, c, scratch.data(), acc.data<double>());
  });
}

}  // namespace dybat::cpu
