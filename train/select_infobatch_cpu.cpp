// CPU twins of the InfoBatch kernels (see select_infobatch.h): the mean summed in double in
// index order, the keys from the shared Philox formula.
#include <limits>

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/select_common.h"
#include "train/select_infobatch.h"

namespace dybat::cpu {

void infobatch_mark(const Tensor& score, const Tensor& low, const Tensor& n_low) {
  const int64_t n = score.numel();
  const float* s = score.data<float>();
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(s[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  uint8_t* l = low.data<uint8_t>();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    l[i] = s[i] < mean ? 1 : 0;
    count += l[i];
  }
  *n_low.data<int64_t>() = count;
}

void infobatch_plan(const Tensor& low, uint64_t seed, int64_t epoch, float low_weight, const Tensor& keys,
                    const Tensor& weight) {
  const uint8_t* l = low.data<uint8_t>();
  float* k = keys.data<float>();
  float* w = weight.data<float>();
  for (int64_t i = 0; i < low.numel(); ++i) {
    k[i] = l[i] ? select_uniform(seed, SelectStream::InfoBatch, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i))
                : std::numeric_limits<float>::infinity();
    w[i] = l[i] ? low_weight : 1.0f;
  }
}

void infobatch_batch(const Tensor& kept, const Tensor& cursor, const Tensor& ids) {
  const int64_t B = ids.numel(), first = *cursor.data<int64_t>() * B;
  DYBAT_CHECK(first >= 0 && first + B <= kept.numel(), "infobatch_batch: step ", *cursor.data<int64_t>(),
              " of the epoch is past its ", kept.numel(), " samples");
  const int64_t* k = kept.data<int64_t>();
  int64_t* out = ids.data<int64_t>();
  for (int64_t t = 0; t < B; ++t) out[t] = k[first + t];
}

void infobatch_record(const Tensor& losses, const Tensor& ids, const Tensor& weight, double inv_batch,
                      const Tensor& score, const Tensor& dloss) {
  const int64_t* id = ids.data<int64_t>();
  const float* w = weight.data<float>();
  float* s = score.data<float>();
  dispatch_float(losses.dtype(), "infobatch_record", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* l = losses.data<T>();
    T* d = dloss.data<T>();
    for (int64_t t = 0; t < losses.numel(); ++t) {
      DYBAT_CHECK(id[t] >= 0 && id[t] < score.numel(), "infobatch_record: sample ", id[t], " outside the split");
      s[id[t]] = static_cast<float>(l[t]);
      d[t] = static_cast<T>(static_cast<double>(w[id[t]]) * inv_batch);
    }
  });
}

}  // namespace dybat::cpu
