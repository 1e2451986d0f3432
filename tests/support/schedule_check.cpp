// The schedule checks (see schedule_check.h).
#include "support/schedule_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "train/reference/dybat.h"
#include "train/selection.h"

namespace dybat::test {

namespace {

// A deterministic stand-in for a step's per-sample losses: depends on the batch and the step.
std::vector<float> fake_losses(int64_t id, int64_t step, int64_t n) {
  std::vector<float> l;
  for (int64_t i = 0; i < n; ++i)
    l.push_back(static_cast<float>(std::fmod(id * 0.37 + step * 0.011 + i * 0.1, 3.0) + (id % 3 == 0 ? 1.0 : 0.0)));
  return l;
}

}  // namespace

std::vector<int64_t> top_k_on(const std::vector<float>& score, int64_t k, Device d) {
  int64_t b = static_cast<int64_t>(score.size());
  Tensor s = Tensor::from_vector(score, {b}).to(d);
  Tensor order = Tensor::full({b}, -1, DType::Int64, d);
  select_top_k(s, k, order);
  auto v = order.to_vector<int64_t>();
  v.resize(static_cast<size_t>(k));
  return v;
}

// Warm-up 0..b-1, then passes of the k highest last-seen scores, ascending. The reference sees
// each step's loss as the device stores it (float32).
void check_schedule(Device d) {
  for (auto [b, delta, epochs] : {std::tuple<int64_t, double, int64_t>{7, 0.5, 4}, {10, 0.3, 3}, {5, 1.0, 3},
                                  {9, 0.8, 5}, {6, 1.0 / 6.0, 2}}) {
    SchedulePlan plan = make_schedule(b, delta, epochs);
    SelectionState st(plan, d, b);
    std::vector<TraceRow> trace;
    for (int64_t s = 0; s < plan.total_steps; ++s) {
      Tensor id = st.choose_batch(s);
      // The test reads the id to make up losses; the training loop never does.
      int64_t host_id = static_cast<int64_t>(id.item());
      auto l = fake_losses(host_id, s, 4);
      st.record(Tensor::from_vector(l, {4}).to(d), id, s);
      if (st.pending() == b || s + 1 == plan.total_steps) {
        auto f = st.flush();
        EXPECT_EQ(f.bad_step, 0);
        trace.insert(trace.end(), f.rows.begin(), f.rows.end());
      }
    }
    ASSERT_EQ(static_cast<int64_t>(trace.size()), epochs * b);
    int64_t step = 0;
    std::vector<float> score(static_cast<size_t>(b), 0.0f);
    const std::vector<ref::ScheduleStep> expect = ref::run_dybat(b, delta, epochs, -1, [&](int64_t id) {
      auto l = fake_losses(id, step++, 4);
      double sum = 0;
      for (float v : l) sum += v;
      score[static_cast<size_t>(id)] = static_cast<float>(sum / 4);
      return static_cast<double>(score[static_cast<size_t>(id)]);
    });
    ASSERT_EQ(expect.size(), trace.size());
    for (size_t s = 0; s < trace.size(); ++s) {
      EXPECT_EQ(trace[s].step, expect[s].step);
      ASSERT_EQ(trace[s].batch_id, expect[s].batch_id) << "step " << s + 1 << " b " << b << " delta " << delta;
      EXPECT_EQ(trace[s].loss, static_cast<float>(expect[s].loss));
    }
    EXPECT_EQ(st.score().to_vector<float>(), score);
  }
}

}  // namespace dybat::test
