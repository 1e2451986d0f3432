// DyBAT schedule: the plan's arithmetic, the loss-recording and top-k kernels, and a whole
// schedule driven by synthetic losses, each against the reference (train/reference/dybat.h):
// the same k, budget, chosen ids and trace as the plain host loop. On CUDA:
// tests/cuda/selection_parity_test.cpp.
#include "train/selection.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/copy.h"
#include "support/schedule_check.h"
#include "support/test_util.h"
#include "support/train_util.h"
#include "train/reference/dybat.h"

using namespace dybat;
using dybat::test::check_schedule;
using dybat::test::top_k_on;

TEST(Schedule, SelectionSizeAsTheOriginal) {
  EXPECT_EQ(selection_size(0.5, 97), 48);
  EXPECT_EQ(selection_size(1.0, 97), 97);
  EXPECT_EQ(selection_size(0.29, 100), 28);  // 28.999999999999996 in double
  EXPECT_EQ(selection_size(0.3, 10), 3);
  EXPECT_EQ(selection_size(0.7, 10), 7);
  EXPECT_THROW(selection_size(0.005, 97), Error);  // k = 0
  EXPECT_THROW(selection_size(0.0, 97), Error);
  EXPECT_THROW(selection_size(1.5, 97), Error);
  EXPECT_THROW(selection_size(-0.5, 97), Error);
  EXPECT_THROW(selection_size(std::nan(""), 97), Error);
  EXPECT_THROW(selection_size(0.5, 0), Error);
}

TEST(Schedule, BudgetAndZeta) {
  EXPECT_EQ(default_zeta(100, 0.5), 50 * 198);
  EXPECT_EQ(default_zeta(100, 0.3), 50 * 330);  // int(99 / 0.3) = int(330.00000000000006)
  EXPECT_EQ(default_zeta(1, 0.5), 0);
  SchedulePlan p = make_schedule(10, 0.5, 3, -1);
  EXPECT_EQ(p.k, 5);
  EXPECT_EQ(p.total_steps, 30);
  SchedulePlan z = make_schedule(10, 0.5, 3, 2);  // two selection passes only
  EXPECT_EQ(z.total_steps, 10 + 2 * 5);
  EXPECT_EQ(make_schedule(10, 1.0, 1).total_steps, 10);
  EXPECT_THROW(make_schedule(10, 0.5, 0), Error);
}

TEST(Schedule, PlanMatchesTheReference) {
  for (int64_t b : {1, 7, 10, 97, 100})
    for (double delta : {1.0, 0.8, 0.5, 0.29, 0.3})
      for (int64_t epochs : {1, 3, 100})
        for (int64_t zeta : {-1, 0, 2}) {
          if (static_cast<int64_t>(delta * static_cast<double>(b)) < 1) continue;
          SchedulePlan p = make_schedule(b, delta, epochs, zeta);
          EXPECT_EQ(p.k, ref::batches_per_pass(delta, b)) << b << " " << delta;
          EXPECT_EQ(p.total_steps, ref::step_budget(b, delta, epochs, zeta)) << b << " " << delta << " " << epochs;
        }
}

TEST(Schedule, StepPlaces) {
  SchedulePlan p = make_schedule(4, 0.5, 5);  // k = 2
  std::vector<std::pair<int64_t, int64_t>> expect = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {1, 0}, {1, 1}, {2, 0}, {2, 1}};
  for (int64_t s = 0; s < 8; ++s) {
    StepPlace at = step_place(p, s);
    EXPECT_EQ(at.pass, expect[s].first) << s;
    EXPECT_EQ(at.position, expect[s].second) << s;
  }
}

TEST(Schedule, TopKTiesAscendingAndNaN) {
  EXPECT_EQ(top_k_on({1, 3, 2, 3, 0}, 2, Device::cpu()), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(top_k_on({5, 5, 5, 5}, 2, Device::cpu()), (std::vector<int64_t>{0, 1}));  // ties: lower ids
  EXPECT_EQ(top_k_on({1, 2, 3, 2}, 3, Device::cpu()), (std::vector<int64_t>{1, 2, 3}));
  float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(top_k_on({1, nan, inf, 2}, 2, Device::cpu()), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(top_k_on({nan, nan, nan}, 2, Device::cpu()), (std::vector<int64_t>{0, 1}));
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    int64_t b = 1 + rng() % 60, k = 1 + rng() % b;
    std::vector<float> s;
    for (int64_t i = 0; i < b; ++i) s.push_back(static_cast<float>(rng() % (trial % 2 ? 4 : 1000)));
    if (trial % 5 == 2) s[rng() % b] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(top_k_on(s, k, Device::cpu()), test::reference_top_k(s, k)) << "trial " << trial;
  }
  // The reference on the hand cases.
  EXPECT_EQ(test::reference_top_k({1, nan, inf, 2}, 2), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(test::reference_top_k({5, 5, 5, 5}, 2), (std::vector<int64_t>{0, 1}));
  Tensor order = Tensor::zeros({3}, DType::Int64);
  EXPECT_THROW(select_top_k(Tensor::zeros({3}), 4, order), Error);
  EXPECT_THROW(select_top_k(Tensor::zeros({3}), 0, order), Error);
}

TEST(Schedule, RecordBatchLoss) {
  Tensor score = Tensor::zeros({4}), ids = Tensor::zeros({2}, DType::Int64), loss = Tensor::zeros({2});
  Tensor bad = Tensor::zeros({1}, DType::Int64);
  Tensor l = Tensor::from_vector<float>({0.1f, 0.2f, 0.7f}, {3});
  record_batch_loss(l, Tensor::from_vector<int64_t>({2}, {1}), 7, score, ids, loss, 1, bad);
  float expect = static_cast<float>((static_cast<double>(0.1f) + static_cast<double>(0.2f) + static_cast<double>(0.7f)) / 3.0);
  EXPECT_EQ(score.to_vector<float>()[2], expect);
  EXPECT_EQ(loss.to_vector<float>()[1], expect);
  EXPECT_EQ(ids.to_vector<int64_t>()[1], 2);
  EXPECT_EQ(bad.to_vector<int64_t>()[0], 0);
  Tensor inf = Tensor::from_vector<float>({1.0f, std::numeric_limits<float>::infinity()}, {2});
  record_batch_loss(inf, Tensor::from_vector<int64_t>({0}, {1}), 9, score, ids, loss, 0, bad);
  record_batch_loss(inf, Tensor::from_vector<int64_t>({1}, {1}), 10, score, ids, loss, 0, bad);
  EXPECT_EQ(bad.to_vector<int64_t>()[0], 9);  // the first bad step is kept
  Tensor l64 = Tensor::from_vector<double>({0.1, 0.2, 0.7}, {3});
  record_batch_loss(l64, Tensor::from_vector<int64_t>({3}, {1}), 1, score, ids, loss, 0, bad);
  EXPECT_EQ(score.to_vector<float>()[3], static_cast<float>((0.1 + 0.2 + 0.7) / 3.0));
}

TEST(Schedule, WholeScheduleMatchesTheRule) { check_schedule(Device::cpu()); }

TEST(Schedule, StateStepsDoNoHostReads) {
  SchedulePlan plan = make_schedule(6, 0.5, 4);
  SelectionState st(plan, Device::cpu(), 6);
  Tensor l = Tensor::from_vector<float>({1, 2}, {2});
  uint64_t before = transfer_counters().host_reads;
  for (int64_t s = 0; s < 6; ++s) st.record(l, st.choose_batch(s), s);
  EXPECT_EQ(transfer_counters().host_reads, before);
  st.flush();
  EXPECT_GT(transfer_counters().host_reads, before);
  EXPECT_THROW(st.record(l, st.choose_batch(7), 7), Error);  // out of order
}

TEST(Schedule, TheDeviceKeepsItsOwnStepCount) {
  // What a replayed graph relies on: the step, the trace slot and the batch id live in device
  // memory and the step's own kernels advance them; the host only counts.
  SchedulePlan plan = make_schedule(6, 0.5, 3);  // k = 3
  SelectionState st(plan, Device::cpu(), 6);
  Tensor l = Tensor::from_vector<float>({1, 2}, {2});
  std::vector<int64_t> ids;
  for (int64_t s = 0; s < 9; ++s) {
    st.check_step(s);
    Tensor id = st.choose_batch();  // no step number given
    EXPECT_EQ(static_cast<int64_t>(st.step_counter().item()), s);
    ids.push_back(static_cast<int64_t>(id.item()));
    st.record(Tensor::from_vector<float>({static_cast<float>(s % 4), 1.0f}, {2}), id);
    EXPECT_EQ(static_cast<int64_t>(st.step_counter().item()), s + 1);
    st.step_done();
    if (st.pending() == 6) {
      auto f = st.flush();
      EXPECT_EQ(f.rows.front().step, 1);
      EXPECT_EQ(f.rows.back().step, 6);
    }
  }
  // Warm-up 0..5, then the 3 highest of the scores (0, 1, 2, 3, 0, 1) / 2 + 0.5: ids 1, 2, 3.
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 1, 2, 3}));
  auto f = st.flush();  // the slot restarted at 0 after the first flush
  ASSERT_EQ(f.rows.size(), 3u);
  EXPECT_EQ(f.rows[0].step, 7);
  EXPECT_EQ(f.rows[0].batch_id, 1);

  // A restore puts the device's count where the checkpoint was.
  SelectionState r(plan, Device::cpu(), 6);
  r.restore(st.score(), st.order(), 7);
  EXPECT_EQ(static_cast<int64_t>(r.step_counter().item()), 7);
  EXPECT_THROW(r.check_step(6), Error);
  EXPECT_EQ(static_cast<int64_t>(r.choose_batch(7).item()), 2);  // position 1 of the pass 1, 2, 3
  r.record(l, r.choose_batch(7), 7);
  EXPECT_EQ(r.flush().rows.at(0).step, 8);
}

TEST(Schedule, TraceBufferOverflowIsAnError) {
  SelectionState st(make_schedule(6, 0.5, 4), Device::cpu(), 2);
  Tensor l = Tensor::from_vector<float>({1}, {1});
  st.record(l, st.choose_batch(0), 0);
  st.record(l, st.choose_batch(1), 1);
  EXPECT_THROW(st.record(l, st.choose_batch(2), 2), Error);
}
