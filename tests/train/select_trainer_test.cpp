// The selection methods inside the training loop, on a small net and synthetic clusters: each
// trains exactly as a textbook loop built on the plain references (train/reference/select.h) trains,
// weights bit for bit; each keeps standard training's step budget; a stopped run resumes to the
// same files; the steps pass the capture audit and read nothing back (InfoBatch: one read per
// epoch, between steps).
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "core/autograd.h"
#include "core/copy.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "kernels/sgd.h"
#include "train/reference/select.h"
#include "support/train_util.h"
#include "support/run_util.h"
#include "train/checkpoint.h"
#include "train/files.h"
#include "train/trainer.h"

using namespace dybat;
using dybat::test::TinyNet;

namespace {

constexpr int64_t kDim = 6, kClasses = 4, kBatch = 8, kTrain = 96, kB = kTrain / kBatch;

struct Problem {
  std::unique_ptr<TensorBatches> train, test;
  Tensor x, y;  // the training split, [96, 6] and [96]
  Problem() {
    auto [xt, yt] = test::clusters(kTrain, kDim, kClasses, 1);
    auto [xv, yv] = test::clusters(40, kDim, kClasses, 2);
    x = xt;
    y = yt;
    train = std::make_unique<TensorBatches>(xt, yt, kBatch);
    test = std::make_unique<TensorBatches>(xv, yv, kBatch);
  }
  std::pair<Tensor, Tensor> rows(const std::vector<int64_t>& ids) const {
    Tensor xs = Tensor::empty({static_cast<int64_t>(ids.size()), kDim});
    Tensor ys = Tensor::empty({static_cast<int64_t>(ids.size())}, DType::Int64);
    Tensor idx = Tensor::from_vector(ids, {static_cast<int64_t>(ids.size())});
    gather_by_index(x, idx, xs);
    gather_by_index(y, idx, ys);
    return {xs, ys};
  }
  std::vector<int64_t> batch(int64_t id) const {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < kBatch; ++i) ids.push_back(id * kBatch + i);
    return ids;
  }
};

TrainConfig config(const std::string& method, int64_t epochs) {
  TrainConfig c;
  c.net = "tiny";
  c.select = method;
  c.epochs = epochs;
  c.batch_size = kBatch;
  c.lr = 0.05;
  c.seed = 3;
  c.flush_seconds = 0;
  c.delta = method == "random" ? 0.5 : 1.0;
  c.keep = 0.5;
  c.keep_start = 0.25;  // sample-topk: steps [9, 36) of 48 are subset steps
  c.keep_end = 0.75;
  c.beta = 2;
  c.window = 20;
  c.prune_ratio = 0.5;
  c.anneal = 0.25;
  return c;
}

// SGD with momentum on one batch of samples, the loss's backward weights given (default: the mean).
struct Textbook {
  TinyNet& net;
  std::vector<Tensor> params, bufs;
  explicit Textbook(TinyNet& n) : net(n), params(n.parameters()) {
    for (auto& p : params) bufs.push_back(p.zeros_like());
  }
  // Per-sample losses of a no-grad forward.
  std::vector<float> score(const Tensor& x, const Tensor& y) {
    NoGradGuard g;
    return cross_entropy(net(x), y).to_vector<float>();
  }
  std::vector<float> train(const Tensor& x, const Tensor& y, const std::vector<float>& dloss = {}) {
    net.zero_grad();
    Tensor l = cross_entropy(net(x), y);
    std::vector<float> losses = l.detach().to_vector<float>();
    if (dloss.empty())
      mean(l).backward();
    else
      l.backward(Tensor::from_vector(dloss, {static_cast<int64_t>(dloss.size())}));
    std::vector<Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad());
    sgd_update(params, grads, bufs, SgdOptions{0.05, 0.9, 0.0, false});
    return losses;
  }
};

void expect_same_weights(TinyNet& a, TinyNet& b) {
  auto pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].to_vector<float>(), pb[i].to_vector<float>()) << "parameter " << i;
}

TrainResult run_in(const std::string& dir, const TrainConfig& c, TinyNet& net, const TrainHooks& hooks = {}) {
  Problem pb;
  RunLog log(dir);
  log.start(config_to_json(c));
  Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
  return t.run(hooks);
}

std::vector<TraceRow> trace_of(const std::string& dir) { return parse_trace(read_file(dir + "/trace.csv")); }

nlohmann::json work_of(const std::string& dir) {
  for (auto& [k, v] : read_safetensors(dir + "/state.safetensors").metadata)
    if (k == "select_work") return nlohmann::json::parse(v);
  return nullptr;
}

// A whole run of `method` in a fresh folder next to a textbook loop on the same initial net,
// which the test drives with the reference choices; the two nets must end equal.
struct Compared {
  std::string dir;
  TrainConfig c;
  TinyNet net{kDim, 16, kClasses, 0}, ref_net{kDim, 16, kClasses, 0};
  Problem pb;
  Textbook ref{ref_net};
  TrainResult result;
  std::vector<TraceRow> trace;
  Compared(const std::string& method, int64_t epochs)
      : dir(test::temp_dir("sel_" + method)), c(config(method, epochs)) {
    result = run_in(dir, c, net);
    trace = trace_of(dir);
  }
  ~Compared() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST(SelectTrainer, RandomIsTheReferenceSchedule) {
  Compared r("random", 4);  // k = 6: a warm-up pass, then 6 passes of 6
  auto& trace = r.trace;
  auto& pb = r.pb;
  auto& ref = r.ref;
  ASSERT_EQ(r.result.steps, 4 * kB);
  ASSERT_EQ(trace.size(), static_cast<size_t>(4 * kB));
  for (int64_t s = 0; s < 4 * kB; ++s) {
    int64_t id = s;
    if (s >= kB) id = ref::random_pass(r.c.seed, 1 + (s - kB) / 6, kB, 6)[(s - kB) % 6];
    ASSERT_EQ(trace[s].batch_id, id) << "step " << s + 1;
    auto [x, y] = pb.rows(pb.batch(id));
    std::vector<float> l = ref.train(x, y);
    EXPECT_FLOAT_EQ(trace[s].loss, static_cast<float>(mean(Tensor::from_vector(l, {kBatch})).item()));
  }
  expect_same_weights(r.net, r.ref_net);
  EXPECT_EQ(work_of(r.dir), (nlohmann::json{{"trained_samples", 4 * kB * kBatch}, {"scored_samples", 0}}));
}

TEST(SelectTrainer, SampleTopkIsTheReferenceCut) {
  Compared r("sample-topk", 4);
  auto& trace = r.trace;
  auto& pb = r.pb;
  auto& ref = r.ref;
  ASSERT_EQ(r.result.steps, 4 * kB);
  for (int64_t s = 0; s < 4 * kB; ++s) {
    auto [x, y] = pb.rows(pb.batch(s % kB));
    ASSERT_EQ(trace[s].batch_id, s % kB);
    if (s < 12 || s >= 36) {  // outside [0.25, 0.75) of the 48 steps: the whole batch
      ref.train(x, y);
      continue;
    }
    std::vector<float> scores = ref.score(x, y);
    std::vector<int64_t> kept = ref::hardest_samples(scores, 4);
    std::vector<int64_t> ids;
    for (int64_t j : kept) ids.push_back((s % kB) * kBatch + j);
    auto [xs, ys] = pb.rows(ids);
    ref.train(xs, ys);
    EXPECT_FLOAT_EQ(trace[s].loss, static_cast<float>(mean(Tensor::from_vector(scores, {kBatch})).item()));
  }
  expect_same_weights(r.net, r.ref_net);
  // 24 subset steps of 4 trained and 8 scored samples, 24 whole batches.
  EXPECT_EQ(work_of(r.dir), (nlohmann::json{{"trained_samples", 24 * 4 + 24 * 8}, {"scored_samples", 24 * 8}}));
}

TEST(SelectTrainer, SelectiveBackpropIsTheReferenceRule) {
  Compared r("selective-backprop", 3);
  auto& trace = r.trace;
  auto& pb = r.pb;
  auto& ref = r.ref;
  ASSERT_EQ(r.result.steps, 3 * kB);
  ref::SelectiveBackprop sb;
  sb.window = r.c.window;
  sb.batch = kBatch;
  sb.beta = r.c.beta;
  sb.seed = r.c.seed;
  ASSERT_EQ(trace.size(), static_cast<size_t>(3 * kB));
  for (int64_t s = 0; s < 3 * kB; ++s) {
    while (sb.queue.size() < static_cast<size_t>(kBatch)) {
      const int64_t id = sb.scored_batches % kB;
      auto [x, y] = pb.rows(pb.batch(id));
      sb.score(id, ref.score(x, y));
    }
    auto [xs, ys] = pb.rows(sb.take());
    std::vector<float> l = ref.train(xs, ys);
    EXPECT_EQ(trace[s].batch_id, -1);
    EXPECT_FLOAT_EQ(trace[s].loss, static_cast<float>(mean(Tensor::from_vector(l, {kBatch})).item()));
  }
  expect_same_weights(r.net, r.ref_net);
  // beta 2 keeps about a third: roughly three scored batches per step.
  EXPECT_GT(sb.scored_batches, 2 * 3 * kB);
  EXPECT_EQ(work_of(r.dir), (nlohmann::json{{"trained_samples", 3 * kB * kBatch},
                                            {"scored_samples", sb.scored_batches * kBatch}}));
}

TEST(SelectTrainer, InfoBatchIsTheReferencePruning) {
  Compared r("infobatch", 6);
  auto& trace = r.trace;
  auto& pb = r.pb;
  auto& ref = r.ref;
  const TrainConfig& c = r.c;
  ASSERT_EQ(r.result.steps, 6 * kB);
  std::vector<float> score(kTrain, 3.0f);
  std::vector<int64_t> epoch_steps;
  int64_t s = 0, epoch = 0, pruned_epochs = 0;
  const int64_t total = 6 * kB, prune_until = static_cast<int64_t>(0.75 * total);
  while (s < total) {
    std::vector<int64_t> kept(kTrain);
    std::iota(kept.begin(), kept.end(), int64_t{0});
    std::vector<float> w(kTrain, 1.0f);
    if (s < prune_until) {
      ref::InfoBatchPlan p = ref::infobatch_plan(score, c.seed, epoch, c.prune_ratio);
      if (static_cast<int64_t>(p.kept.size()) >= kBatch) kept = p.kept, w = p.weight;
      pruned_epochs += p.low > 0;
    }
    const int64_t nb = static_cast<int64_t>(kept.size()) / kBatch;
    epoch_steps.push_back(nb);
    for (int64_t j = 0; j < nb && s < total; ++j, ++s) {
      std::vector<int64_t> ids(kept.begin() + j * kBatch, kept.begin() + (j + 1) * kBatch);
      std::vector<float> dloss;
      for (int64_t i : ids) dloss.push_back(static_cast<float>(static_cast<double>(w[i]) / kBatch));
      auto [xs, ys] = pb.rows(ids);
      std::vector<float> l = ref.train(xs, ys, dloss);
      for (int64_t t = 0; t < kBatch; ++t) score[ids[t]] = l[t];
      EXPECT_EQ(trace[s].batch_id, -1);
      EXPECT_FLOAT_EQ(trace[s].loss, static_cast<float>(mean(Tensor::from_vector(l, {kBatch})).item()));
    }
    ++epoch;
  }
  expect_same_weights(r.net, r.ref_net);
  // The first epoch (every score 3) and the annealed ones train on all 12 batches; the pruned
  // ones are shorter, so the 72 steps take more epochs than 6.
  EXPECT_EQ(epoch_steps.front(), kB);
  EXPECT_GE(pruned_epochs, 3);
  EXPECT_GT(epoch, 6);
  EXPECT_LT(*std::min_element(epoch_steps.begin(), epoch_steps.end()), kB);
  // The checkpoint holds the scores the reference ended with.
  TinyNet probe(kDim, 16, kClasses, 0);
  CheckpointState st = load_checkpoint(r.dir, probe);
  for (auto& [name, t] : st.method) {
    if (name == "score") {
      EXPECT_EQ(t.to_vector<float>(), score);
    }
  }
}

TEST(SelectTrainer, EveryMethodResumesToTheUnbrokenRun) {
  for (const char* method : {"random", "sample-topk", "selective-backprop", "infobatch"}) {
    SCOPED_TRACE(method);
    TrainConfig c = config(method, 4);
    std::string whole = test::temp_dir(std::string("sel_whole_") + method);
    std::string cut = test::temp_dir(std::string("sel_cut_") + method);
    TinyNet a(kDim, 16, kClasses, 0), b(kDim, 16, kClasses, 0);
    run_in(whole, c, a);
    TrainHooks stop;
    stop.stop_after = [](int64_t s) { return s == 29; };  // after the checkpoint at step 24
    ASSERT_EQ(run_in(cut, c, b, stop).checkpoint_step, 24);
    {
      Problem pb;
      TinyNet fresh(kDim, 16, kClasses, 77);
      RunLog log(cut);
      Trainer t(config_from_json(log.read_config()), fresh, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
      t.resume();
      EXPECT_EQ(t.run().status, TrainStatus::Completed);
    }
    EXPECT_EQ(test::run_results(cut), test::run_results(whole));
    std::filesystem::remove_all(whole);
    std::filesystem::remove_all(cut);
  }
}

TEST(SelectTrainer, StepsPassTheCaptureAuditAndReadNothingBack) {
  for (const char* method : {"random", "sample-topk", "selective-backprop", "infobatch"}) {
    SCOPED_TRACE(method);
    TrainConfig c = config(method, 4);
    std::string plain = test::temp_dir(std::string("sel_plain_") + method);
    TinyNet a(kDim, 16, kClasses, 0), b(kDim, 16, kClasses, 0);
    run_in(plain, c, a);
    Problem pb;
    Trainer t(c, b, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
    t.set_capture_audit(true);
    std::vector<TransferCounters> at(4 * kB + 1);
    TrainHooks h;
    h.after_step = [&](int64_t s) { at[s] = transfer_counters(); };
    ASSERT_EQ(t.run(h).status, TrainStatus::Completed);
    expect_same_weights(a, b);
    int64_t reads = 0;
    for (int64_t s = 2; s <= 4 * kB; ++s)
      if ((s - 1) % kB != 0) reads += at[s].host_reads != at[s - 1].host_reads;  // s - 1 flushed and evaluated
    if (std::string(method) == "infobatch")
      EXPECT_LE(reads, 8);  // the epoch plans' reads of n_low, at most one per epoch
    else
      EXPECT_EQ(reads, 0);
    std::filesystem::remove_all(plain);
  }
}

TEST(SelectTrainer, SettingsThatCannotRun) {
  Problem pb;
  TinyNet net(kDim, 16, kClasses, 0);
  TrainConfig c = config("sample-topk", 2);
  c.keep = 0.1;  // int(0.1 * 8) = 0 samples
  EXPECT_THROW(Trainer(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr), Error);
  c = config("infobatch", 2);
  c.delta = 0.5;  // a sample method on DyBAT's schedule
  EXPECT_THROW(Trainer(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr), Error);
}
