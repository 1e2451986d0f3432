// The DyBAT schedule's kernels on CUDA: top-k against the reference (ties, NaN), a whole schedule
// against the rule (support/schedule_check.h), and steps without transfers.
#include <limits>
#include <random>

#include "core/copy.h"
#include "support/schedule_check.h"
#include "support/test_util.h"
#include "support/train_util.h"
#include "train/selection.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaSchedule, TopKMatchesTheReference) {
  DYBAT_REQUIRE_GPU();
  std::mt19937 rng(9);
  for (int trial = 0; trial < 40; ++trial) {
    int64_t b = 1 + rng() % 900, k = 1 + rng() % b;
    std::vector<float> s;
    for (int64_t i = 0; i < b; ++i) s.push_back(static_cast<float>(rng() % (trial % 2 ? 5 : 100000)) * 0.25f);
    if (trial % 7 == 3) s[rng() % b] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(top_k_on(s, k, Device::cuda()), test::reference_top_k(s, k)) << "trial " << trial;
  }
}

TEST(CudaSchedule, WholeScheduleMatchesTheRule) {
  DYBAT_REQUIRE_GPU();
  check_schedule(Device::cuda());
}

TEST(CudaSchedule, StepsDoNoTransfers) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  SchedulePlan plan = make_schedule(6, 0.5, 4);
  SelectionState st(plan, d, 24);
  Tensor l = Tensor::from_vector<float>({1, 2, 3}, {3}).to(d);
  TransferCounters before = transfer_counters();
  for (int64_t s = 0; s < plan.total_steps; ++s) st.record(l, st.choose_batch(s), s);
  EXPECT_EQ(transfer_counters().device_to_host, before.device_to_host);
  EXPECT_EQ(transfer_counters().host_to_device, before.host_to_device);
  EXPECT_EQ(transfer_counters().syncs, before.syncs);
  EXPECT_EQ(transfer_counters().host_reads, before.host_reads);
  auto f = st.flush();
  EXPECT_EQ(static_cast<int64_t>(f.rows.size()), plan.total_steps);
  EXPECT_EQ(f.rows.back().loss, 2.0f);
}
