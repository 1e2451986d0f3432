// CPU twins of the Selective-Backprop kernels (see select_sb.h): plain loops over (host) memory,
// the same per-sample formulas as the CUDA kernels.
#include <algorithm>
#include <vector>

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/select_common.h"
#include "train/select_sb.h"

namespace dybat::cpu {

void sb_prepare(const Tensor& state, int64_t num_batches, int64_t batch, const Tensor& batch_id,
                const Tensor& pending) {
  const int64_t* s = state.data<int64_t>();
  *batch_id.data<int64_t>() = s[1] % num_batches;
  *pending.data<int32_t>() = s[3] < batch ? 1 : 0;
}

void sb_select(const Tensor& losses, const Tensor& batch_id, const Tensor& history, const Tensor& queue,
               const Tensor& state, const Tensor& keep, uint64_t seed, double beta) {
  const int64_t B = losses.numel(), W = history.numel(), Q = queue.numel();
  std::vector<float> l(static_cast<size_t>(B));
  dispatch_float(losses.dtype(), "sb_select", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    for (int64_t i = 0; i < B; ++i) l[i] = static_cast<float>(losses.data<T>()[i]);
  });
  int64_t* s = state.data<int64_t>();
  float* hist = history.data<float>();
  uint8_t* kept = keep.data<uint8_t>();
  const int64_t seen = s[0], cursor = s[1], id = *batch_id.data<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    // The window: losses g in [seen + i + 1 - n, seen + i], from the ring before this batch.
    const int64_t n = std::min(W, seen + i + 1);
    int64_t below = 0, at_or_below = 0;
    for (int64_t g = seen + i + 1 - n; g <= seen + i; ++g) {
      const float v = g < seen ? hist[g % W] : l[g - seen];
      below += v < l[i];
      at_or_below += v <= l[i];
    }
    const double u = select_uniform(seed, SelectStream::Selective, static_cast<uint64_t>(cursor),
                                    static_cast<uint64_t>(i));
    kept[i] = u < sb_keep_probability(below, at_or_below, n, beta) ? 1 : 0;
  }
  for (int64_t i = std::max<int64_t>(0, B - W); i < B; ++i) hist[(seen + i) % W] = l[i];
  int64_t* q = queue.data<int64_t>();
  int64_t added = 0;
  for (int64_t i = 0; i < B; ++i)
    if (kept[i]) q[(s[2] + s[3] + added++) % Q] = id * B + i;
  s[0] += B;
  s[1] += 1;
  s[3] += added;
}

void sb_take(const Tensor& queue, const Tensor& state, const Tensor& ids) {
  const int64_t B = ids.numel(), Q = queue.numel();
  int64_t* s = state.data<int64_t>();
  DYBAT_CHECK(s[3] >= B, "sb_take: the queue holds ", s[3], " samples, fewer than a step's ", B);
  const int64_t* q = queue.data<int64_t>();
  int64_t* out = ids.data<int64_t>();
  for (int64_t j = 0; j < B; ++j) out[j] = q[(s[2] + j) % Q];
  s[2] = (s[2] + B) % Q;
  s[3] -= B;
}

}  // namespace dybat::cpu
