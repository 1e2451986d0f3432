// The selection methods besides DyBAT, the reference (see select.h): host containers, sorts and
// counts, written from the definitions and nothing else.
#include "train/reference/select.h"

#include <algorithm>

#include "core/philox.h"
#include "train/reference/dybat.h"

namespace dybat::ref {

float select_key(uint64_t seed, uint64_t tag, uint64_t offset, uint64_t index) {
  const uint32_t word = philox_block(seed ^ tag, offset, index).x;
  return static_cast<float>(word >> 8) / 16777216.0f;
}

std::vector<int64_t> random_pass(uint64_t seed, int64_t pass, int64_t b, int64_t k) {
  std::vector<double> key;
  for (int64_t i = 0; i < b; ++i) key.push_back(select_key(seed, kRandomTag, static_cast<uint64_t>(pass), i));
  return hardest_batches(key, k);
}

std::vector<int64_t> hardest_samples(const std::vector<float>& loss, int64_t m) {
  return hardest_batches(std::vector<double>(loss.begin(), loss.end()), m);
}

std::vector<uint8_t> SelectiveBackprop::score(int64_t id, const std::vector<float>& loss) {
  std::vector<uint8_t> keep;
  for (size_t i = 0; i < loss.size(); ++i) {
    history.push_back(loss[i]);
    if (static_cast<int64_t>(history.size()) > window) history.pop_front();
    int64_t left = 0, right = 0;  // history losses below, and at or below, this one
    for (float h : history) {
      left += h < loss[i];
      right += h <= loss[i];
    }
    const int64_t n = static_cast<int64_t>(history.size());
    const double cdf = static_cast<double>(left + right + (left < right ? 1 : 0)) / (2.0 * static_cast<double>(n));
    double p = 1;
    for (int j = 0; j < static_cast<int>(beta); ++j) p *= cdf;
    const double u = select_key(seed, kSelectiveTag, static_cast<uint64_t>(scored_batches), i);
    keep.push_back(u < p ? 1 : 0);
    if (keep.back()) queue.push_back(id * batch + static_cast<int64_t>(i));
  }
  ++scored_batches;
  return keep;
}

std::vector<int64_t> SelectiveBackprop::take() {
  std::vector<int64_t> ids(queue.begin(), queue.begin() + batch);
  queue.erase(queue.begin(), queue.begin() + batch);
  return ids;
}

InfoBatchPlan infobatch_plan(const std::vector<float>& score, uint64_t seed, int64_t epoch, double prune_ratio) {
  const double keep = std::min(1.0, std::max(0.1, 1.0 - prune_ratio));
  double sum = 0;
  for (float s : score) sum += s;
  const float mean = static_cast<float>(sum / static_cast<double>(score.size()));
  InfoBatchPlan p;
  std::vector<int64_t> low;
  std::vector<double> key;
  for (size_t i = 0; i < score.size(); ++i) {
    const bool is_low = score[i] < mean;
    p.weight.push_back(is_low ? static_cast<float>(1.0 / keep) : 1.0f);
    if (is_low) {
      low.push_back(static_cast<int64_t>(i));
      key.push_back(select_key(seed, kInfoBatchTag, static_cast<uint64_t>(epoch), i));
    } else {
      p.kept.push_back(static_cast<int64_t>(i));
    }
  }
  p.low = static_cast<int64_t>(low.size());
  for (int64_t j : hardest_batches(key, static_cast<int64_t>(keep * static_cast<double>(low.size()))))
    p.kept.push_back(low[j]);
  std::sort(p.kept.begin(), p.kept.end());
  return p;
}

}  // namespace dybat::ref
