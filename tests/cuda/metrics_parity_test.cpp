// The metrics on CUDA against the CPU (random batches, ties included), and accumulation without
// transfers.
#include <algorithm>
#include <random>

#include "core/copy.h"
#include "support/metrics_cases.h"
#include "support/test_util.h"
#include "train/metrics.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaMetrics, MatchesCpu) {
  DYBAT_REQUIRE_GPU();
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    int64_t c = 2 + rng() % 100, n = 1 + rng() % 300;
    MetricsBatch b{{}, {}, n, c};
    for (int64_t i = 0; i < n * c; ++i)
      b.logits.push_back(trial % 4 == 0 ? static_cast<float>(rng() % 3)
                                        : std::uniform_real_distribution<float>(-4, 4)(rng));
    for (int64_t i = 0; i < n; ++i) b.labels.push_back(static_cast<int64_t>(rng() % c));
    int64_t k = std::min<int64_t>(5, c);
    auto a = metrics_of(b, k), g = metrics_of(b, k, Device::cuda());
    EXPECT_EQ(a[2], g[2]) << "trial " << trial;
    EXPECT_EQ(a[3], g[3]) << "trial " << trial;
    EXPECT_NEAR(a[4], g[4], 1e-5) << "trial " << trial;  // softmax ulps may flip a near-tie
  }
  for (auto ex : {kExample1}) EXPECT_NEAR(metrics_of(ex, 5, Device::cuda())[4], 0.9, 1e-12);
}

TEST(CudaMetrics, AccumulateHasNoTransfers) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  MetricsAccumulator m(d, 6);
  Tensor z = Tensor::from_vector(kExample1.logits, {6, 6}).to(d), y = Tensor::from_vector(kExample1.labels, {6}).to(d);
  Tensor l = Tensor::zeros({6}, DType::Float32, d);
  TransferCounters before = transfer_counters();
  for (int i = 0; i < 3; ++i) m.add(z, y, l);
  EXPECT_EQ(transfer_counters().device_to_host, before.device_to_host);
  EXPECT_EQ(transfer_counters().host_to_device, before.host_to_device);
  EXPECT_EQ(transfer_counters().syncs, before.syncs);
  EXPECT_NEAR(m.result().auroc, 0.9, 1e-12);
}
