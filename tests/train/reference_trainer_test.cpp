// The reference trainer (train/reference/trainer.h), which trains a small net from the reference
// tier alone, against the fast Trainer: the same net, weights and data, standard and DyBAT
// training on the CPU in float64, must give the same batch id at every step, the same losses to
// within the trace's float32 rounding, and the same weights at the end.
#include "train/reference/trainer.h"

#include <cmath>

#include "support/test_util.h"
#include "support/train_util.h"
#include "train/files.h"
#include "train/run_log.h"
#include "train/trainer.h"

using namespace dybat;

namespace {

constexpr int64_t kDim = 6, kHidden = 16, kClasses = 4, kBatch = 8;

ref::Mlp mlp_of(const test::TinyNet& net) {
  return {kDim,
          kHidden,
          kClasses,
          net.fc1->weight.to_vector<double>(),
          net.fc1->bias.to_vector<double>(),
          net.fc2->weight.to_vector<double>(),
          net.fc2->bias.to_vector<double>()};
}

ref::Samples samples_of(const Tensor& x, const Tensor& y) {
  return {x.size(0), x.size(1), x.to_vector<double>(), y.to_vector<int64_t>()};
}

ref::TrainSettings settings(double delta, int64_t epochs) {
  ref::TrainSettings s;
  s.batch_size = kBatch;
  s.epochs = epochs;
  s.delta = delta;
  s.sgd = {0.05, 0.9, 0.0, false};
  return s;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST(ReferenceTrainer, TheLossFalls) {
  auto [x, y] = test::clusters(96, kDim, kClasses, 1);
  const ref::Samples data = samples_of(x, y);
  for (double delta : {1.0, 0.5}) {
    ref::Mlp net = mlp_of(test::TinyNet(kDim, kHidden, kClasses, 0));
    const double before = ref::mean_loss(net, data, kBatch);
    const std::vector<ref::ScheduleStep> trace = ref::train_mlp(net, data, settings(delta, 6));
    ASSERT_EQ(trace.size(), 6u * 12u);
    EXPECT_LT(ref::mean_loss(net, data, kBatch), 0.5 * before) << "delta " << delta;
  }
}

TEST(ReferenceTrainer, MatchesTheFastTrainer) {
  auto [xt, yt] = test::clusters(96, kDim, kClasses, 1);
  auto [xv, yv] = test::clusters(40, kDim, kClasses, 2);
  for (double delta : {1.0, 0.5, 0.25}) {
    SCOPED_TRACE("delta " + std::to_string(delta));
    test::TinyNet net(kDim, kHidden, kClasses, 0);
    ref::Mlp reference = mlp_of(net);  // the same float32 initial weights, exactly
    net.to(DType::Float64);

    TrainConfig c;
    c.net = "tiny";
    c.delta = delta;
    c.epochs = 5;
    c.batch_size = kBatch;
    c.lr = 0.05;
    c.flush_seconds = 0;
    const std::string dir = test::temp_dir("reference_trainer");
    RunLog log(dir);
    log.start(config_to_json(c));
    TensorBatches train(xt, yt, kBatch), test(xv, yv, kBatch);
    Trainer fast(c, net, train, test, Device::cpu(), DType::Float64, &log);
    ASSERT_EQ(fast.run().status, TrainStatus::Completed);
    const std::vector<TraceRow> trace = parse_trace(read_file(dir + "/trace.csv"));

    const std::vector<ref::ScheduleStep> expect = ref::train_mlp(reference, samples_of(xt, yt), settings(delta, 5));
    ASSERT_EQ(trace.size(), expect.size());
    for (size_t s = 0; s < trace.size(); ++s) {
      EXPECT_EQ(trace[s].step, expect[s].step);
      ASSERT_EQ(trace[s].batch_id, expect[s].batch_id) << "step " << s + 1;
      // The trace holds the loss rounded to float32: one unit in its last place.
      EXPECT_NEAR(trace[s].loss, expect[s].loss, std::fabs(expect[s].loss) * 1.2e-7) << "step " << s + 1;
    }
    EXPECT_LT(max_diff(net.fc1->weight.to_vector<double>(), reference.fc1_weight), 1e-12);
    EXPECT_LT(max_diff(net.fc1->bias.to_vector<double>(), reference.fc1_bias), 1e-12);
    EXPECT_LT(max_diff(net.fc2->weight.to_vector<double>(), reference.fc2_weight), 1e-12);
    EXPECT_LT(max_diff(net.fc2->bias.to_vector<double>(), reference.fc2_bias), 1e-12);
    std::filesystem::remove_all(dir);
  }
}
