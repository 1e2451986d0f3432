// The selection methods' kernels on the CPU backend against the plain references of
// train/reference/select.h, exactly, for fixed seeds: the random control's pass keys, sample-topk's cut,
// Selective-Backprop's keep draws and queue, InfoBatch's epoch plan and step; and the sample
// gathers and the trace row they rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "support/data_files.h"
#include "data/dataset.h"
#include "support/train_util.h"
#include "train/reference/select.h"
#include "train/batches.h"
#include "train/select_common.h"
#include "train/select_infobatch.h"
#include "train/select_random.h"
#include "train/select_sb.h"
#include "train/selection.h"

using namespace dybat;

namespace {

std::vector<int64_t> first(const Tensor& t, int64_t k) {
  std::vector<int64_t> v = t.to_vector<int64_t>();
  v.resize(static_cast<size_t>(k));
  return v;
}

}  // namespace

TEST(SelectRandom, PassKeysPickTheReferenceBatches) {
  const int64_t b = 12, k = 5;
  Tensor keys = Tensor::full({b}, -1.0, DType::Float32), step = Tensor::zeros({1}, DType::Int64);
  Tensor order = Tensor::zeros({b}, DType::Int64);
  for (uint64_t seed : {0ull, 1ull, 12345ull}) {
    for (int64_t pass = 1; pass <= 6; ++pass) {
      step.fill_(static_cast<double>(b + (pass - 1) * k));  // the pass's first step
      random_pass_keys(step, k, seed, keys);
      select_top_k(keys, k, order);
      EXPECT_EQ(first(order, k), ref::random_pass(seed, pass, b, k)) << "seed " << seed << " pass " << pass;
    }
  }
  // Other steps (warm-up, inside a pass) and delta 1 leave the keys alone.
  std::vector<float> before = keys.to_vector<float>();
  for (int64_t s : {int64_t{0}, b - 1, b + 1, b + k + 2}) {
    step.fill_(static_cast<double>(s));
    random_pass_keys(step, k, 0, keys);
  }
  step.fill_(static_cast<double>(2 * b));
  random_pass_keys(step, b, 0, keys);
  EXPECT_EQ(keys.to_vector<float>(), before);
}

TEST(SelectRandom, EveryBatchIsChosenAboutEquallyOften) {
  // 2000 passes of k = 3 of b = 10: each batch is in about 600 of them (binomial sd ~20).
  const int64_t b = 10, k = 3;
  std::vector<int> count(b, 0);
  for (int64_t pass = 1; pass <= 2000; ++pass)
    for (int64_t id : ref::random_pass(7, pass, b, k)) ++count[id];
  for (int64_t i = 0; i < b; ++i) EXPECT_NEAR(count[i], 600, 100) << "batch " << i;
}

TEST(SelectTopk, TheCutIsTheReferenceTopM) {
  // sample-topk ranks the scoring losses with the schedule's top-k kernel.
  std::mt19937 rng(3);
  for (int64_t B : {1, 7, 64}) {
    for (int64_t m : {int64_t{1}, B / 2 + 1, B}) {
      if (m < 1 || m > B) continue;
      std::vector<float> loss = test::grid_losses(rng, B);
      Tensor kept = Tensor::zeros({m}, DType::Int64);
      select_top_k(Tensor::from_vector(loss, {B}), m, kept);
      EXPECT_EQ(kept.to_vector<int64_t>(), ref::hardest_samples(loss, m)) << "B " << B << " m " << m;
    }
  }
}

// Drives the Selective-Backprop kernels over `batches` scored batches of fake losses and checks
// every keep flag, the flag, the next batch id and every taken step against the reference.
void check_selective_backprop(int64_t B, int64_t W, double beta, uint64_t seed, int64_t batches) {
  const int64_t b = 5;  // batches per epoch of the fake split
  ref::SelectiveBackprop ref;
  ref.window = W;
  ref.batch = B;
  ref.beta = beta;
  ref.seed = seed;
  Tensor history = Tensor::zeros({W}, DType::Float32), queue = Tensor::zeros({2 * B}, DType::Int64);
  Tensor state = Tensor::zeros({4}, DType::Int64), keep = Tensor::zeros({B}, DType::UInt8);
  Tensor id = Tensor::zeros({1}, DType::Int64), pending = Tensor::zeros({1}, DType::Int32);
  Tensor ids = Tensor::zeros({B}, DType::Int64);
  std::mt19937 rng(static_cast<unsigned>(seed + B * 31 + W));
  int64_t steps = 0, scored = 0;
  while (scored < batches) {
    sb_prepare(state, b, B, id, pending);
    ASSERT_EQ(id.to_vector<int64_t>()[0], scored % b);
    ASSERT_EQ(pending.to_vector<int32_t>()[0], static_cast<int32_t>(ref.queue.size()) < B ? 1 : 0);
    if (ref.queue.size() >= static_cast<size_t>(B)) {  // a step would train now
      sb_take(queue, state, ids);
      ASSERT_EQ(ids.to_vector<int64_t>(), ref.take()) << "step " << steps;
      ++steps;
      continue;
    }
    std::vector<float> loss = test::grid_losses(rng, B);
    sb_select(Tensor::from_vector(loss, {B}), id, history, queue, state, keep, seed, beta);
    ASSERT_EQ(keep.to_vector<uint8_t>(), ref.score(scored % b, loss)) << "scored batch " << scored;
    ++scored;
  }
  std::vector<int64_t> s = state.to_vector<int64_t>();
  EXPECT_EQ(s[1], ref.scored_batches);
  EXPECT_EQ(s[0], ref.scored_batches * B);
  EXPECT_EQ(s[3], static_cast<int64_t>(ref.queue.size()));
  EXPECT_GT(steps, 3);
}

TEST(SelectSelectiveBackprop, KeepDrawsAndQueueAreTheReference) {
  check_selective_backprop(8, 16, 1, 0, 80);   // a window of two batches
  check_selective_backprop(8, 5, 2, 9, 80);    // a window smaller than a batch
  check_selective_backprop(16, 1024, 1, 3, 60);  // the history still filling up
  check_selective_backprop(4, 7, 0, 1, 30);    // beta 0 keeps every sample
}

TEST(SelectSelectiveBackprop, HigherLossesAreKeptMoreOften) {
  // beta = 2: P(keep) = CDF^2, so the highest half of the losses make up most of the queue.
  ref::SelectiveBackprop ref;
  ref.window = 64;
  ref.batch = 16;
  ref.beta = 2;
  int64_t kept_high = 0, kept_low = 0;
  std::mt19937 rng(5);
  for (int64_t c = 0; c < 400; ++c) {
    std::vector<float> loss;
    for (int i = 0; i < 16; ++i) loss.push_back(static_cast<float>(i) + std::uniform_real_distribution<float>(0, 1)(rng));
    std::vector<uint8_t> keep = ref.score(c, loss);
    for (int i = 0; i < 16; ++i) (i >= 8 ? kept_high : kept_low) += keep[i];
    ref.queue.clear();
  }
  EXPECT_GT(kept_high, 3 * kept_low);
  // E[CDF^2] over uniform percentiles is 1/3 of the samples.
  EXPECT_NEAR(static_cast<double>(kept_high + kept_low) / (400.0 * 16.0), 1.0 / 3.0, 0.03);
}

TEST(SelectSelectiveBackprop, TakingFromAShortQueueThrows) {
  Tensor queue = Tensor::zeros({8}, DType::Int64), state = Tensor::from_vector<int64_t>({0, 0, 0, 3}, {4});
  EXPECT_THROW(sb_take(queue, state, Tensor::zeros({4}, DType::Int64)), Error);
}

TEST(SelectInfoBatch, EpochPlanIsTheReference) {
  std::mt19937 rng(11);
  for (int64_t n : {1, 9, 200}) {
    for (double r : {0.0, 0.3, 0.5, 0.9}) {
      for (int64_t epoch : {0, 3}) {
        std::vector<float> score = test::grid_losses(rng, n);
        Tensor s = Tensor::from_vector(score, {n});
        Tensor low = Tensor::zeros({n}, DType::UInt8), n_low = Tensor::zeros({1}, DType::Int64);
        Tensor keys = Tensor::zeros({n}), weight = Tensor::zeros({n}), kept = Tensor::full({n}, -1, DType::Int64);
        infobatch_mark(s, low, n_low);
        const int64_t lows = n_low.to_vector<int64_t>()[0];
        const double keep_ratio = infobatch_keep_ratio(r);
        const int64_t k = n - lows + static_cast<int64_t>(keep_ratio * static_cast<double>(lows));
        infobatch_plan(low, 42, epoch, static_cast<float>(1.0 / keep_ratio), keys, weight);
        select_top_k(keys, k, kept);
        ref::InfoBatchPlan ref = ref::infobatch_plan(score, 42, epoch, r);
        SCOPED_TRACE("n " + std::to_string(n) + " r " + std::to_string(r) + " epoch " + std::to_string(epoch));
        EXPECT_EQ(lows, ref.low);
        EXPECT_EQ(first(kept, k), ref.kept);
        EXPECT_EQ(weight.to_vector<float>(), ref.weight);
      }
    }
  }
  EXPECT_DOUBLE_EQ(infobatch_keep_ratio(0.95), 0.1);  // the authors' floor
}

TEST(SelectInfoBatch, StepTakesItsSlotAndRecordsScoresAndWeights) {
  Tensor kept = Tensor::from_vector<int64_t>({1, 4, 5, 7, 8, 9}, {6}), cursor = Tensor::full({1}, 1, DType::Int64);
  Tensor ids = Tensor::zeros({3}, DType::Int64);
  infobatch_batch(kept, cursor, ids);
  EXPECT_EQ(ids.to_vector<int64_t>(), (std::vector<int64_t>{7, 8, 9}));
  cursor.fill_(2);
  EXPECT_THROW(infobatch_batch(kept, cursor, ids), Error);  // past the epoch's samples
  Tensor weight = Tensor::from_vector<float>({1, 1, 1, 1, 1, 1, 1, 2, 2, 1}, {10}), score = Tensor::full({10}, 3.0);
  Tensor dloss = Tensor::zeros({3});
  infobatch_record(Tensor::from_vector<float>({0.5f, 0.25f, 4.0f}, {3}), ids, weight, 1.0 / 3.0, score, dloss);
  std::vector<float> s = score.to_vector<float>();
  EXPECT_EQ(s[7], 0.5f);
  EXPECT_EQ(s[8], 0.25f);
  EXPECT_EQ(s[9], 4.0f);
  EXPECT_EQ(s[0], 3.0f);
  EXPECT_EQ(dloss.to_vector<float>(), (std::vector<float>{2.0f / 3.0f, 2.0f / 3.0f, 1.0f / 3.0f}));
}

TEST(SelectCommon, SampleStepTraceRow) {
  Tensor counters = Tensor::from_vector<int64_t>({6, 1, 0}, {3});
  Tensor ids = Tensor::zeros({3}, DType::Int64), loss = Tensor::zeros({3}), bad = Tensor::zeros({1}, DType::Int64);
  record_sample_loss(Tensor::from_vector<float>({1, 2, 4}, {3}), counters, ids, loss, bad);
  EXPECT_EQ(counters.to_vector<int64_t>(), (std::vector<int64_t>{7, 2, 0}));
  EXPECT_EQ(ids.to_vector<int64_t>()[1], -1);
  EXPECT_FLOAT_EQ(loss.to_vector<float>()[1], 7.0f / 3.0f);
  EXPECT_EQ(bad.to_vector<int64_t>()[0], 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  record_sample_loss(Tensor::from_vector<float>({1, nan}, {2}), counters, ids, loss, bad);
  EXPECT_EQ(bad.to_vector<int64_t>()[0], 8);
  counters = Tensor::from_vector<int64_t>({8, 3, 0}, {3});  // a slot past the buffer: no row, counted
  record_sample_loss(Tensor::from_vector<float>({1}, {1}), counters, ids, loss, bad);
  EXPECT_EQ(counters.to_vector<int64_t>(), (std::vector<int64_t>{9, 4, 0}));
}

TEST(SelectCommon, GatherByIndexAndSampleGathers) {
  Tensor src = Tensor::from_vector<float>({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  Tensor out = Tensor::zeros({3, 2});
  gather_by_index(src, Tensor::from_vector<int64_t>({3, 0, 3}, {3}), out);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{30, 31, 0, 1, 30, 31}));
  EXPECT_THROW(gather_by_index(src, Tensor::from_vector<int64_t>({4, 0, 1}, {3}), out), Error);
  EXPECT_THROW(gather_by_index(src, Tensor::from_vector<int64_t>({0, 1}, {2}), out), Error);

  // A dataset split: gathering samples 5..9 by index equals batch 1 of 5, augmentation included.
  Split split = test::pattern_split(12, 6, 6);
  for (const char* aug : {"none", "crop,flip"}) {
    LoaderBatches src5(split, 5, 6, parse_augment(aug), 3);
    src5.set_step(4);
    Tensor x = Tensor::empty({5, 3, 6, 6}), y = Tensor::empty({5}, DType::Int64);
    Tensor xs = Tensor::empty({5, 3, 6, 6}), ys = Tensor::empty({5}, DType::Int64);
    src5.gather(Tensor::from_vector<int64_t>({1}, {1}), x, y);
    src5.gather_samples(Tensor::from_vector<int64_t>({5, 6, 7, 8, 9}, {5}), xs, ys);
    EXPECT_EQ(xs.to_vector<float>(), x.to_vector<float>()) << aug;
    EXPECT_EQ(ys.to_vector<int64_t>(), y.to_vector<int64_t>()) << aug;
    // Any samples, any count, repeats allowed; an index outside the split is an error.
    Tensor x2 = Tensor::empty({2, 3, 6, 6}), y2 = Tensor::empty({2}, DType::Int64);
    src5.gather_samples(Tensor::from_vector<int64_t>({11, 6}, {2}), x2, y2);
    EXPECT_EQ(y2.to_vector<int64_t>(), (std::vector<int64_t>{11, 6}));
    std::vector<float> a = x2.to_vector<float>(), b = x.to_vector<float>();
    EXPECT_TRUE(std::equal(a.begin() + 108, a.end(), b.begin() + 108)) << aug;  // sample 6 = row 1 of batch 1
    EXPECT_THROW(src5.gather_samples(Tensor::from_vector<int64_t>({12, 0}, {2}), x2, y2), Error);
  }
}
