// DyBAT, the reference (docs/algorithm.md). With b batches in a fixed order and
// k = int(delta * b):
//   1. warm-up: one step on every batch 0..b-1; score[id] = that step's loss;
//   2. then, pass after pass: take the k ids with the highest score and visit them in ascending
//      id order, one step each, each step overwriting its batch's score;
//   3. stop as soon as the step budget is used up, even in the middle of a pass.
// With delta = 1 every pass visits every batch in order: standard mini-batch training.
#include "train/reference/dybat.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace dybat::ref {

int64_t batches_per_pass(double delta, int64_t num_batches) {
  const int64_t k = static_cast<int64_t>(delta * static_cast<double>(num_batches));
  if (!(delta > 0.0 && delta <= 1.0) || k < 1) throw std::invalid_argument("delta must be in (0, 1] with k >= 1");
  return k;
}

int64_t step_budget(int64_t num_batches, double delta, int64_t epochs, int64_t zeta) {
  if (zeta < 0) zeta = 50 * static_cast<int64_t>(static_cast<double>(epochs - 1) / delta);
  return std::min(epochs * num_batches, num_batches + zeta * batches_per_pass(delta, num_batches));
}

std::vector<int64_t> hardest_batches(const std::vector<double>& score, int64_t k) {
  // "i ranks before j": higher score first, NaN above everything, ties to the lower id.
  auto ranks_before = [&](int64_t i, int64_t j) {
    const bool nan_i = std::isnan(score[i]), nan_j = std::isnan(score[j]);
    if (nan_i != nan_j) return nan_i;
    if (!nan_i && score[i] != score[j]) return score[i] > score[j];
    return i < j;
  };
  std::vector<int64_t> ids(score.size());
  std::iota(ids.begin(), ids.end(), int64_t{0});
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), ranks_before);
  ids.resize(static_cast<size_t>(k));
  std::sort(ids.begin(), ids.end());  // visited in ascending id order
  return ids;
}

std::vector<ScheduleStep> run_dybat(int64_t num_batches, double delta, int64_t epochs, int64_t zeta,
                                    const std::function<double(int64_t batch_id)>& train_step) {
  const int64_t k = batches_per_pass(delta, num_batches);
  const int64_t budget = step_budget(num_batches, delta, epochs, zeta);
  std::vector<double> score(static_cast<size_t>(num_batches), 0.0);  // [b] latest loss of each batch
  std::vector<int64_t> pass(static_cast<size_t>(num_batches));       // the ids this pass visits
  std::iota(pass.begin(), pass.end(), int64_t{0});                    // warm-up: every batch
  std::vector<ScheduleStep> trace;
  while (true) {
    for (int64_t id : pass) {
      if (static_cast<int64_t>(trace.size()) == budget) return trace;
      const double loss = train_step(id);
      score[static_cast<size_t>(id)] = loss;
      trace.push_back({static_cast<int64_t>(trace.size()) + 1, id, loss});
    }
    pass = hardest_batches(score, k);
  }
}

}  // namespace dybat::ref
