// Metrics: the worked examples of docs/data-and-metrics.md section 3.4 exactly, a naive per-class
// reference on random batches (ties included), accumulation over batches. CUDA against the CPU:
// tests/cuda/metrics_parity_test.cpp.
#include "train/metrics.h"

#include <cmath>
#include <random>

#include "core/copy.h"
#include "support/metrics_cases.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::MetricsBatch;
using dybat::test::kExample1;
using dybat::test::metrics_of;

namespace {

// The definition, class by class: softmax unless all in [0,1], pairs with ties one half,
// 0 for an absent or only class, weights = class counts.
double naive_auroc(const MetricsBatch& b) {
  bool raw = true;
  for (float v : b.logits) raw = raw && v >= 0.f && v <= 1.f;
  std::vector<float> P(b.logits);
  if (!raw) {
    for (int64_t i = 0; i < b.n; ++i) {
      float m = P[i * b.c];
      for (int64_t j = 1; j < b.c; ++j) m = std::max(m, P[i * b.c + j]);
      float s = 0;
      for (int64_t j = 0; j < b.c; ++j) s += (P[i * b.c + j] = std::exp(b.logits[i * b.c + j] - m));
      for (int64_t j = 0; j < b.c; ++j) P[i * b.c + j] /= s;
    }
  }
  double num = 0, den = 0;
  for (int64_t k = 0; k < b.c; ++k) {
    double pos = 0, neg = 0, good = 0;
    for (int64_t i = 0; i < b.n; ++i) (b.labels[i] == k ? pos : neg) += 1;
    for (int64_t i = 0; i < b.n; ++i)
      for (int64_t j = 0; j < b.n; ++j)
        if (b.labels[i] == k && b.labels[j] != k) {
          float pi = P[i * b.c + k], pj = P[j * b.c + k];
          good += pi > pj ? 1.0 : pi == pj ? 0.5 : 0.0;
        }
    double auc = (pos > 0 && neg > 0) ? good / (pos * neg) : 0.0;
    num += pos * auc;
    den += pos;
  }
  return num / den;
}

double naive_topk(const MetricsBatch& b, int64_t k) {
  double hits = 0;
  for (int64_t i = 0; i < b.n; ++i) {
    std::vector<std::pair<float, int64_t>> row;
    for (int64_t j = 0; j < b.c; ++j) row.push_back({-b.logits[i * b.c + j], j});
    std::sort(row.begin(), row.end());  // descending logit, ties to the lower index
    for (int64_t r = 0; r < k; ++r) hits += row[r].second == b.labels[i];
  }
  return hits / static_cast<double>(b.n);
}

}  // namespace

TEST(Metrics, WorkedExample1) {
  auto a = metrics_of(kExample1, 5);
  EXPECT_EQ(a[0], 1.0);
  EXPECT_DOUBLE_EQ(a[2], 0.5);
  EXPECT_DOUBLE_EQ(a[3], 5.0 / 6.0);
  EXPECT_NEAR(a[4], 0.9, 1e-12);
  EXPECT_DOUBLE_EQ(metrics_of(kExample1, 2)[3], 4.0 / 6.0);  // top-2
}

TEST(Metrics, WorkedExample2Ties) {
  MetricsBatch b{{2, 0, -1, 2, 0, -1, 0, 1, 0, 1, 1, 1, 2, 0, -1}, {0, 1, 1, 0, 1}, 5, 3};
  auto a = metrics_of(b, 3);
  EXPECT_NEAR(a[4], 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(a[2], 0.6);
}

TEST(Metrics, WorkedExample3SingleClassBatch) {
  MetricsBatch b{{3, 0, 1, 0, 1, 2, 1, 1, 0, 0.5f, 0.2f, 0.1f}, {2, 2, 2, 2}, 4, 3};
  auto a = metrics_of(b, 1);
  EXPECT_DOUBLE_EQ(a[2], 0.25);
  EXPECT_EQ(a[4], 0.0);
}

TEST(Metrics, WorkedExample4RawScoresInUnitInterval) {
  MetricsBatch b{{0.9f, 0.5f, 0.1f, 0.2f, 0.3f, 0.25f, 0.6f, 0.55f, 0.0f, 0.1f, 0.2f, 0.8f}, {0, 1, 0, 2}, 4, 3};
  EXPECT_NEAR(metrics_of(b, 1)[4], 5.0 / 6.0, 1e-12);
  // One entry outside [0, 1] switches the whole batch to softmax scores.
  MetricsBatch s = b;
  s.logits[11] = 1.0f + 1e-6f;
  EXPECT_NE(metrics_of(s, 1)[4], metrics_of(b, 1)[4]);
  // The spec's softmax value for the same logits: 0.9166667.
  EXPECT_NEAR(naive_auroc(s), 11.0 / 12.0, 1e-6);
}

TEST(Metrics, TopFiveWithFewerClassesIsTopN) {
  MetricsAccumulator m(Device::cpu(), 3);
  EXPECT_EQ(m.top_k(), 3);
  MetricsBatch b{{0, 1, 2, 2, 1, 0}, {0, 2}, 2, 3};
  Tensor z = Tensor::from_vector(b.logits, {2, 3}), y = Tensor::from_vector(b.labels, {2});
  m.add(z, y, Tensor::zeros({2}));
  SplitMetrics r = m.result();
  EXPECT_EQ(r.top5, 100.0);
  EXPECT_EQ(r.top1, 0.0);
}

TEST(Metrics, RandomBatchesMatchNaiveDefinition) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 60; ++trial) {
    int64_t c = 2 + rng() % 12, n = 1 + rng() % 40;
    MetricsBatch b{{}, {}, n, c};
    bool coarse = trial % 3 == 0;  // few distinct values: many ties
    bool unit = trial % 5 == 1;    // all in [0,1]: raw scores
    for (int64_t i = 0; i < n * c; ++i) {
      float v = coarse ? static_cast<float>(rng() % 3) : std::uniform_real_distribution<float>(-3, 3)(rng);
      if (unit) v = std::uniform_real_distribution<float>(0, 1)(rng);
      b.logits.push_back(v);
    }
    for (int64_t i = 0; i < n; ++i) b.labels.push_back(static_cast<int64_t>(rng() % std::min<int64_t>(c, 4)));
    if (trial % 4 == 2) std::copy(b.logits.begin(), b.logits.begin() + c, b.logits.begin() + (n - 1) * c);
    int64_t k = std::min<int64_t>(5, c);
    auto a = metrics_of(b, k);
    EXPECT_NEAR(a[4], naive_auroc(b), 1e-12) << "trial " << trial;
    EXPECT_NEAR(a[2], naive_topk(b, 1), 1e-15) << "trial " << trial;
    EXPECT_NEAR(a[3], naive_topk(b, k), 1e-15) << "trial " << trial;
  }
}

TEST(Metrics, MeanOverBatchesAndLoss) {
  MetricsAccumulator m(Device::cpu(), 6);
  Tensor z = Tensor::from_vector(kExample1.logits, {6, 6}), y = Tensor::from_vector(kExample1.labels, {6});
  m.add(z, y, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {6}));
  Tensor z2 = Tensor::from_vector<float>({1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {2, 6});
  m.add(z2, Tensor::from_vector<int64_t>({0, 1}, {2}), Tensor::from_vector<float>({1, 2}, {2}));
  SplitMetrics r = m.result();
  EXPECT_EQ(r.batches, 2);
  EXPECT_DOUBLE_EQ(r.loss, (3.5 + 1.5) / 2);
  EXPECT_DOUBLE_EQ(r.top1, 100.0 * (0.5 + 1.0) / 2);
  EXPECT_NEAR(r.auroc, (0.9 + 1.0) / 2, 1e-12);  // second batch: raw scores, both classes perfect
  m.reset();
  EXPECT_EQ(m.result().batches, 0);
}

TEST(Metrics, AccumulateDoesNotReadTheHost) {
  MetricsAccumulator m(Device::cpu(), 6);
  Tensor z = Tensor::from_vector(kExample1.logits, {6, 6}), y = Tensor::from_vector(kExample1.labels, {6});
  uint64_t before = transfer_counters().host_reads;
  for (int i = 0; i < 3; ++i) m.add(z, y, Tensor::zeros({6}));
  EXPECT_EQ(transfer_counters().host_reads, before);
  m.result();
  EXPECT_EQ(transfer_counters().host_reads, before + 1);
}

TEST(Metrics, Float64Logits) {
  Tensor z = Tensor::from_vector(kExample1.logits, {6, 6}).to(DType::Float64);
  Tensor y = Tensor::from_vector(kExample1.labels, {6});
  Tensor acc = Tensor::zeros({5}, DType::Float64);
  metrics_accumulate(z, y, Tensor::zeros({6}, DType::Float64), 5, acc);
  EXPECT_NEAR(acc.to_vector<double>()[4], 0.9, 1e-12);
}

TEST(Metrics, RejectsBadShapes) {
  Tensor acc = Tensor::zeros({5}, DType::Float64);
  EXPECT_THROW(metrics_accumulate(Tensor::zeros({2, 3}), Tensor::zeros({3}, DType::Int64), Tensor::zeros({2}), 1, acc),
               Error);
  EXPECT_THROW(metrics_accumulate(Tensor::zeros({2, 3}), Tensor::zeros({2}, DType::Int64), Tensor::zeros({2}), 1,
                                  Tensor::zeros({5})),
               Error);
}
