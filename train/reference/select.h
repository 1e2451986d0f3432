// The selection methods besides DyBAT, the reference (select.cpp): what each one chooses, as
// plain host code on vectors, from the methods' definitions (train/select_method.h says what
// each selects and where it comes from). The fast versions keep their state in device memory and
// choose with kernels (train/select_*.h); the tests hold them to exactly these choices.
//
// The random streams are part of the definitions: key i of stream `offset` of a method is the top
// 24 bits of Philox4x32-10 word 0 of block i under the key seed ^ tag, as a float32 in [0, 1).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

namespace dybat::ref {

// The methods' stream tags (mixed into the seed so their numbers are their own).
constexpr uint64_t kRandomTag = 0x52414e444f4d0001ull, kSelectiveTag = 0x53454c4241434b01ull,
                   kInfoBatchTag = 0x494e464f42415401ull;
float select_key(uint64_t seed, uint64_t tag, uint64_t offset, uint64_t index);

// random: the k of b batches that selection pass `pass` (from 1) visits, ascending: the k
// highest keys (ties to the lower id).
std::vector<int64_t> random_pass(uint64_t seed, int64_t pass, int64_t b, int64_t k);

// sample-topk: the m samples of a batch with the highest losses (ties to the lower index),
// ascending.
std::vector<int64_t> hardest_samples(const std::vector<float>& loss, int64_t m);

// Selective-Backprop over the stream of scored batches: the last `window` losses and the queue of
// kept samples (indices into the split).
struct SelectiveBackprop {
  int64_t window = 0, batch = 0;  // W and B
  double beta = 1;                // an integer in the tests (CDF^beta as repeated products)
  uint64_t seed = 0;
  std::deque<float> history;
  std::deque<int64_t> queue;
  int64_t scored_batches = 0;
  // Scores batch `id` (per-sample losses `loss`, in order): each sample's loss joins the history,
  // its CDF is scipy's percentileofscore(history, loss, kind="rank") / 100, and it is kept when
  // its key (stream: the number of batches scored before) is below CDF^beta. Returns the keep
  // flags; the kept samples id * B + i join the queue.
  std::vector<uint8_t> score(int64_t id, const std::vector<float>& loss);
  // The queue's first B samples, which leave it.
  std::vector<int64_t> take();
};

// InfoBatch's plan of one epoch from the scores: the samples scoring below the mean (the mean
// summed in double, rounded to float32) are low; int(keep * n_low) of them stay, the ones with
// the highest keys of stream `epoch` (np.random.choice without replacement, in other words),
// keep = max(0.1, 1 - prune_ratio); kept = them and every other sample, ascending; weight =
// 1 / keep for the low samples, 1 for the others.
struct InfoBatchPlan {
  std::vector<int64_t> kept;
  std::vector<float> weight;
  int64_t low = 0;
};
InfoBatchPlan infobatch_plan(const std::vector<float>& score, uint64_t seed, int64_t epoch, double prune_ratio);

}  // namespace dybat::ref
