// Plain reference versions of the selection methods' choices (train/select_method.h), written
// from the methods' definitions with host containers and sorts, independent of the kernels:
// the tests hold the kernels and the trainer to exactly these choices for a fixed seed. The
// random streams are part of the definitions: key i of stream (seed ^ tag, offset) is the top 24
// bits of Philox word 0 of block i, as a float32 in [0, 1).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <numeric>
#include <vector>

#include "core/philox.h"

namespace dybat::test {

constexpr uint64_t kRandomTag = 0x52414e444f4d0001ull, kSelectiveTag = 0x53454c4241434b01ull,
                   kInfoBatchTag = 0x494e464f42415401ull;

inline float reference_key(uint64_t seed, uint64_t tag, uint64_t offset, uint64_t i) {
  const uint32_t word = philox_block(seed ^ tag, offset, i).x;
  return static_cast<float>(word >> 8) / 16777216.0f;
}

// The k ids of `key` with the highest values (a stable sort: ties keep the lower id), ascending.
inline std::vector<int64_t> reference_highest(const std::vector<float>& key, int64_t k) {
  std::vector<int64_t> ids(key.size());
  std::iota(ids.begin(), ids.end(), int64_t{0});
  std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) { return key[a] > key[b]; });
  ids.resize(static_cast<size_t>(k));
  std::sort(ids.begin(), ids.end());
  return ids;
}

// random: the batches of selection pass `pass` (k of b).
inline std::vector<int64_t> reference_random_pass(uint64_t seed, int64_t pass, int64_t b, int64_t k) {
  std::vector<float> key;
  for (int64_t i = 0; i < b; ++i) key.push_back(reference_key(seed, kRandomTag, pass, i));
  return reference_highest(key, k);
}

// Selective-Backprop over a stream of scored batches: the loss history (the last W) and the queue.
struct ReferenceSelectiveBackprop {
  int64_t window = 0, batch = 0;
  double beta = 1;
  uint64_t seed = 0;
  std::deque<float> history;
  std::deque<int64_t> queue;
  int64_t scored_batches = 0;

  // Scores batch `id` with per-sample losses `loss`; returns its keep flags, queues the kept.
  std::vector<uint8_t> score(int64_t id, const std::vector<float>& loss) {
    std::vector<uint8_t> keep;
    for (size_t i = 0; i < loss.size(); ++i) {
      history.push_back(loss[i]);
      if (static_cast<int64_t>(history.size()) > window) history.pop_front();
      // scipy.stats.percentileofscore(history, l, kind="rank") / 100, the sample itself included.
      int64_t left = 0, right = 0;
      for (float h : history) {
        left += h < loss[i];
        right += h <= loss[i];
      }
      const int64_t n = static_cast<int64_t>(history.size());
      const double cdf = (left + right + (left < right ? 1 : 0)) / (2.0 * n);
      double p = 1;
      for (int j = 0; j < static_cast<int>(beta); ++j) p *= cdf;  // integer beta in the tests
      const double u = reference_key(seed, kSelectiveTag, static_cast<uint64_t>(scored_batches), i);
      keep.push_back(u < p ? 1 : 0);
      if (keep.back()) queue.push_back(id * batch + static_cast<int64_t>(i));
    }
    ++scored_batches;
    return keep;
  }
  std::vector<int64_t> take() {
    std::vector<int64_t> ids(queue.begin(), queue.begin() + batch);
    queue.erase(queue.begin(), queue.begin() + batch);
    return ids;
  }
};

// InfoBatch's plan of one epoch from the scores: the kept samples (ascending) and the weights.
struct ReferenceInfoBatchPlan {
  std::vector<int64_t> kept;
  std::vector<float> weight;
  int64_t low = 0;
};
inline ReferenceInfoBatchPlan reference_infobatch_plan(const std::vector<float>& score, uint64_t seed, int64_t epoch,
                                                       double prune_ratio) {
  const double keep_ratio = std::min(1.0, std::max(0.1, 1.0 - prune_ratio));
  double sum = 0;
  for (float s : score) sum += s;
  const float mean = static_cast<float>(sum / static_cast<double>(score.size()));
  ReferenceInfoBatchPlan p;
  std::vector<int64_t> low;
  for (size_t i = 0; i < score.size(); ++i) {
    const bool is_low = score[i] < mean;
    p.weight.push_back(is_low ? static_cast<float>(1.0 / keep_ratio) : 1.0f);
    if (is_low)
      low.push_back(static_cast<int64_t>(i));
    else
      p.kept.push_back(static_cast<int64_t>(i));
  }
  p.low = static_cast<int64_t>(low.size());
  // np.random.choice(low, int(keep_ratio * n_low), replace=False): here the low samples with the
  // highest random keys.
  std::vector<float> key;
  for (int64_t i : low) key.push_back(reference_key(seed, kInfoBatchTag, epoch, i));
  for (int64_t j : reference_highest(key, static_cast<int64_t>(keep_ratio * static_cast<double>(low.size()))))
    p.kept.push_back(low[j]);
  std::sort(p.kept.begin(), p.kept.end());
  return p;
}

}  // namespace dybat::test
