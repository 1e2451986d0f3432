// The training loop on a small net and synthetic clusters: delta = 1 is plain training, DyBAT's
// trace follows the rule recomputed from its own losses, metrics rows every b steps, resume gives
// an identical trace, the loss falls, the step loop reads nothing back, non-finite losses stop it.
#include "train/trainer.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "core/copy.h"
#include "kernels/conv2d.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "kernels/sgd.h"
#include "support/test_util.h"
#include "support/train_util.h"
#include "train/checkpoint.h"
#include "train/checkpoint_algos.h"
#include "train/files.h"

using namespace dybat;
using dybat::test::config;
using dybat::test::kBatch;
using dybat::test::kClasses;
using dybat::test::kDim;
using dybat::test::lines;
using dybat::test::Problem;
using dybat::test::step_hook;
using dybat::test::TinyNet;
using dybat::test::without_timing;

namespace {

TrainHooks stop_hook(int64_t at) {
  TrainHooks h;
  h.stop_after = [at](int64_t s) { return s == at; };
  return h;
}
TrainHooks eval_hook(std::function<void(const MetricsRow&)> f) {
  TrainHooks h;
  h.evaluated = std::move(f);
  return h;
}

// Runs a whole fresh run into `dir`.
TrainResult run_to(const std::string& dir, const TrainConfig& c, const TrainHooks& hooks = {}) {
  Problem pb;
  TinyNet net(kDim, 16, kClasses, c.seed);
  RunLog log(dir);
  log.start(config_to_json(c));
  Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
  return t.run(hooks);
}

}  // namespace

TEST(Trainer, DeltaOneIsPlainTraining) {
  Problem pb;
  TinyNet a(kDim, 16, kClasses, 3), b(kDim, 16, kClasses, 3);
  TrainConfig c = config(1.0, 3);
  Trainer t(c, a, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
  TrainResult r = t.run();
  EXPECT_EQ(r.status, TrainStatus::Completed);
  EXPECT_EQ(r.steps, 3 * 12);

  // The textbook loop: every batch in order, mean cross-entropy, backward, SGD with momentum.
  std::vector<Tensor> params = b.parameters(), bufs;
  for (auto& p : params) bufs.push_back(p.zeros_like());
  Tensor x = Tensor::empty({kBatch, kDim}), y = Tensor::empty({kBatch}, DType::Int64);
  for (int64_t e = 0; e < 3; ++e)
    for (int64_t i = 0; i < 12; ++i) {
      pb.train->gather(Tensor::from_vector<int64_t>({i}, {1}), x, y);
      b.zero_grad();
      mean(cross_entropy(b(x), y)).backward();
      std::vector<Tensor> grads;
      for (auto& p : params) grads.push_back(p.grad());
      sgd_update(params, grads, bufs, SgdOptions{0.05, 0.9, 0.0, false});
    }
  auto pa = a.parameters();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(pa[i].to_vector<float>(), params[i].to_vector<float>()) << "parameter " << i;
}

TEST(Trainer, DybatTraceFollowsTheRule) {
  std::string dir = test::temp_dir("dybat_trace");
  TrainConfig c = config(0.5, 5);
  TrainResult r = run_to(dir, c);
  ASSERT_EQ(r.status, TrainStatus::Completed);
  const int64_t b = 12, k = 6;
  std::vector<TraceRow> trace = parse_trace(read_file(dir + "/trace.csv"));
  ASSERT_EQ(static_cast<int64_t>(trace.size()), 5 * b);
  std::vector<float> score(b, 0.0f);
  std::vector<int64_t> ids(b);
  std::iota(ids.begin(), ids.end(), int64_t{0});
  size_t next = 0;
  int64_t passes = 0;
  for (size_t s = 0; s < trace.size(); ++s) {
    if (next == ids.size()) {
      ids = test::reference_top_k(score, k);  // recomputed from the trace's own losses
      next = 0;
      ++passes;
    }
    EXPECT_EQ(trace[s].step, static_cast<int64_t>(s + 1));
    ASSERT_EQ(trace[s].batch_id, ids[next]) << "step " << s + 1;
    score[trace[s].batch_id] = trace[s].loss;
    ++next;
  }
  EXPECT_EQ(passes, (5 * b - b) / k);
  // One metrics row per b steps, in both files.
  auto csv = lines(read_file(dir + "/metrics.csv"));
  auto jsonl = lines(read_file(dir + "/metrics.jsonl"));
  ASSERT_EQ(csv.size(), 6u);
  ASSERT_EQ(jsonl.size(), 5u);
  EXPECT_EQ(csv[0], "step,epoch,train_loss,train_top1,train_top5,train_auroc,test_loss,test_top1,test_top5,test_auroc,"
                    "elapsed_s,img_per_s");
  for (int64_t e = 1; e <= 5; ++e) {
    EXPECT_EQ(csv[e].substr(0, csv[e].find(',')), std::to_string(e * b));
    auto j = nlohmann::json::parse(jsonl[e - 1]);
    EXPECT_EQ(j["step"], e * b);
    EXPECT_EQ(j["epoch"], static_cast<double>(e));
    EXPECT_GE(j["test_auroc"].get<double>(), 0.0);
    EXPECT_LE(j["test_top5"].get<double>(), 100.0);
  }
  // The scores in the checkpoint are the last loss of each batch in the trace.
  TinyNet net(kDim, 16, kClasses, 0);
  CheckpointState st = load_checkpoint(dir, net);
  EXPECT_EQ(st.step, 5 * b);
  EXPECT_EQ(st.score.to_vector<float>(), score);
  std::filesystem::remove_all(dir);
}

TEST(Trainer, EvaluationInsideAPassAndZetaBound) {
  std::string dir = test::temp_dir("zeta");
  TrainConfig c = config(0.25, 4);  // k = 3
  c.eval_every = 5;
  c.zeta = 4;  // budget: 12 + 4 * 3 = 24 < 48 steps
  TrainResult r = run_to(dir, c);
  EXPECT_EQ(r.steps, 24);
  auto csv = lines(read_file(dir + "/metrics.csv"));
  std::vector<std::string> steps;
  for (size_t i = 1; i < csv.size(); ++i) steps.push_back(csv[i].substr(0, csv[i].find(',')));
  EXPECT_EQ(steps, (std::vector<std::string>{"5", "10", "15", "20", "24"}));  // and one at the end
  EXPECT_EQ(parse_trace(read_file(dir + "/trace.csv")).size(), 24u);
  std::filesystem::remove_all(dir);
}

TEST(Trainer, ResumeGivesAnIdenticalTrace) {
  TrainConfig c = config(0.5, 5);
  std::string whole = test::temp_dir("whole"), cut = test::temp_dir("cut");
  run_to(whole, c);
  // Stop in the middle of a selection pass, after the checkpoint at step 24 (epoch 2).
  TrainResult first = run_to(cut, c, stop_hook(27));
  ASSERT_EQ(first.status, TrainStatus::Stopped);
  EXPECT_EQ(first.checkpoint_step, 24);
  // As if a crash came after later rows reached the files: resume must cut them.
  append_file(cut + "/trace.csv", "25,3,1.5\n26,4,1.25\n27,5,");
  append_file(cut + "/metrics.csv", "36,3,1,2,3,4,5,6,7,8,9,10\n");
  append_file(cut + "/metrics.jsonl", "{\"step\": 36}\n");
  {
    Problem pb;
    TinyNet net(kDim, 16, kClasses, 99);  // a different init: everything must come from the checkpoint
    RunLog log(cut);
    TrainConfig saved = config_from_json(log.read_config());
    Trainer t(saved, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
    t.resume();
    EXPECT_EQ(t.step(), 24);
    EXPECT_EQ(t.run().status, TrainStatus::Completed);
  }
  EXPECT_EQ(read_file(cut + "/trace.csv"), read_file(whole + "/trace.csv"));
  EXPECT_EQ(without_timing(read_file(cut + "/metrics.csv")), without_timing(read_file(whole + "/metrics.csv")));
  EXPECT_EQ(read_file(cut + "/model.safetensors"), read_file(whole + "/model.safetensors"));
  EXPECT_EQ(lines(read_file(cut + "/metrics.jsonl")).size(), 5u);
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(cut);
}

TEST(Trainer, ResumeWithMoreEpochsMatchesTheLongerRun) {
  std::string longer = test::temp_dir("longer"), raised = test::temp_dir("raised");
  run_to(longer, config(0.5, 4));
  run_to(raised, config(0.5, 2));
  {
    Problem pb;
    TinyNet net(kDim, 16, kClasses, 0);
    RunLog log(raised);
    Trainer t(config(0.5, 4), net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
    t.resume();
    EXPECT_EQ(t.step(), 24);
    t.run();
  }
  EXPECT_EQ(read_file(raised + "/trace.csv"), read_file(longer + "/trace.csv"));
  std::filesystem::remove_all(longer);
  std::filesystem::remove_all(raised);
}

TEST(Trainer, ResumeWithoutACheckpointStartsOver) {
  std::string dir = test::temp_dir("nockpt"), ref = test::temp_dir("nockpt_ref");
  TrainConfig c = config(0.5, 2);
  run_to(ref, c);
  TrainResult r = run_to(dir, c, stop_hook(5));
  EXPECT_EQ(r.checkpoint_step, 0);
  Problem pb;
  TinyNet net(kDim, 16, kClasses, 0);
  RunLog log(dir);
  Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
  t.resume();
  EXPECT_EQ(t.step(), 0);
  t.run();
  EXPECT_EQ(read_file(dir + "/trace.csv"), read_file(ref + "/trace.csv"));
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(ref);
}

TEST(Trainer, CheckpointCarriesTheCudnnAlgorithms) {
  // On the CPU no convolution chooses an algorithm, so a record put there by hand stands for the
  // choices a GPU run would make: the checkpoint must keep it and a resumed run must import it.
  clear_conv2d_algorithms();
  ConvAlgoRecord rec;
  rec.key = {0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8, 3, 32, 32, 16, 3, 3, 3};
  rec.algo[0] = 1, rec.math[0] = 3, rec.algo[1] = 0, rec.math[1] = 3, rec.algo[2] = 5, rec.math[2] = 3;
  import_conv2d_algorithms({rec});
  std::string dir = test::temp_dir("cudnn_algos");
  TrainConfig c = config(0.5, 2);
  ASSERT_EQ(run_to(dir, c, stop_hook(12)).checkpoint_step, 12);
  std::string text;
  for (auto& [k, v] : read_safetensors(dir + "/state.safetensors").metadata)
    if (k == "cudnn_algorithms") text = v;
  EXPECT_EQ(text, conv2d_algorithms_to_text({rec}));

  clear_conv2d_algorithms();
  {
    Problem pb;
    TinyNet net(kDim, 16, kClasses, 0);
    RunLog log(dir);
    Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
    t.resume();
  }
  EXPECT_EQ(conv2d_algorithms(), std::vector<ConvAlgoRecord>{rec});
  clear_conv2d_algorithms();
  std::filesystem::remove_all(dir);
}

TEST(Trainer, LossFalls) {
  Problem pb;
  TinyNet net(kDim, 16, kClasses, 0);
  std::vector<MetricsRow> rows;
  TrainConfig c = config(0.5, 8);
  Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
  SplitMetrics before = evaluate(net, *pb.test, Mode::EvalBatchStats, DType::Float32);
  t.run(eval_hook([&](const MetricsRow& r) { rows.push_back(r); }));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_LT(rows.back().train.loss, 0.6 * rows.front().train.loss);
  EXPECT_LT(rows.back().test.loss, 0.6 * before.loss);
  EXPECT_GT(rows.back().test.top1, 60.0) << rows.back().test.top1;
  EXPECT_GT(rows.back().test.auroc, 0.85) << rows.back().test.auroc;
}

TEST(Trainer, StepLoopReadsNothingBack) {
  Problem pb;
  TinyNet net(kDim, 16, kClasses, 0);
  Trainer t(config(0.5, 4), net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
  std::vector<TransferCounters> at(49);
  int64_t checked = 0;
  t.run(step_hook([&](int64_t s) { at[s] = transfer_counters(); }));
  for (int64_t s = 2; s <= 48; ++s) {
    if ((s - 1) % 12 == 0) continue;  // step s - 1 ended with a flush and an evaluation
    EXPECT_EQ(at[s].host_reads, at[s - 1].host_reads) << "step " << s;
    ++checked;
  }
  EXPECT_EQ(checked, 47 - 3);
}

// A net whose forward reads a value on the host: fine in a plain loop, not in a captured step.
class HostReadingNet : public TinyNet {
 public:
  using TinyNet::TinyNet;
  Tensor forward(const Tensor& x) override {
    if (is_training()) seen += x.slice(0, 1).flatten(0).slice(0, 1).item();
    return TinyNet::forward(x);
  }
  double seen = 0;
};

TEST(Trainer, CaptureAuditProvesStepsAndEvaluationsCaptureSafe) {
  // Steps and evaluation batches after their warm-up run inside a CaptureScope: any host read or
  // new allocation there throws. A whole DyBAT run with a cosine schedule (the learning rate picked
  // by the step counter on the device) completes, with the trace of a plain run.
  std::string plain = test::temp_dir("audit_plain"), audited = test::temp_dir("audit_on");
  TrainConfig c = config(0.5, 4);
  c.lr_schedule = "cosine";
  run_to(plain, c);
  {
    Problem pb;
    TinyNet net(kDim, 16, kClasses, c.seed);
    RunLog log(audited);
    log.start(config_to_json(c));
    Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
    t.set_capture_audit(true);
    EXPECT_FALSE(t.uses_cuda_graphs());
    EXPECT_EQ(t.run().status, TrainStatus::Completed);
    EXPECT_THROW(t.set_capture_audit(false), Error);  // too late
  }
  EXPECT_EQ(read_file(audited + "/trace.csv"), read_file(plain + "/trace.csv"));
  EXPECT_EQ(without_timing(read_file(audited + "/metrics.csv")), without_timing(read_file(plain + "/metrics.csv")));
  EXPECT_EQ(read_file(audited + "/model.safetensors"), read_file(plain + "/model.safetensors"));
  std::filesystem::remove_all(plain);
  std::filesystem::remove_all(audited);

  // The audit does catch a step that reads the device: at the first audited step (the third).
  Problem pb;
  HostReadingNet net(kDim, 16, kClasses, 0);
  Trainer t(config(0.5, 2), net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
  t.set_capture_audit(true);
  try {
    t.run();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("capturing the training step"), std::string::npos) << e.message();
  }
  EXPECT_EQ(t.step(), 2);
}

TEST(Trainer, CudaGraphOptionOnTheCpuRunsThePlainPath) {
  std::string on = test::temp_dir("graph_on"), off = test::temp_dir("graph_off");
  TrainConfig c = config(0.5, 3);
  c.cuda_graph = "on";
  {
    Problem pb;
    TinyNet net(kDim, 16, kClasses, 0);
    Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
    EXPECT_FALSE(t.uses_cuda_graphs());
  }
  run_to(on, c);
  c.cuda_graph = "off";
  run_to(off, c);
  EXPECT_EQ(read_file(on + "/trace.csv"), read_file(off + "/trace.csv"));
  EXPECT_EQ(read_file(on + "/model.safetensors"), read_file(off + "/model.safetensors"));
  std::filesystem::remove_all(on);
  std::filesystem::remove_all(off);
}

TEST(Trainer, GradientBuffersKeepTheirAddresses) {
  // A captured step writes gradients where the capture saw them: after the first step, every
  // parameter's .grad must stay the same buffer.
  Problem pb;
  TinyNet net(kDim, 16, kClasses, 0);
  Trainer t(config(0.5, 2), net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
  std::vector<std::vector<void*>> at;
  t.run(step_hook([&](int64_t) {
    std::vector<void*> ptrs;
    for (const Tensor& p : net.parameters()) ptrs.push_back(p.grad().data_ptr());
    at.push_back(ptrs);
  }));
  ASSERT_EQ(at.size(), 24u);
  for (size_t s = 1; s < at.size(); ++s) EXPECT_EQ(at[s], at[0]) << "step " << s + 1;
}

TEST(Trainer, LearningRateSchedulesMatchTheHostFormula) {
  // The device-side rate (a table picked by the step counter) against the host loop with lr.at().
  for (const char* kind : {"cosine", "step"}) {
    SCOPED_TRACE(kind);
    Problem pb;
    TinyNet a(kDim, 16, kClasses, 3), b(kDim, 16, kClasses, 3);
    TrainConfig c = config(1.0, 3);
    c.lr_schedule = kind;
    c.lr_step_epochs = 1;
    c.lr_gamma = 0.5;
    Trainer t(c, a, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr);
    t.run();
    LrSchedule lr;
    lr.kind = kind;
    lr.base = c.lr;
    lr.total_steps = 36;
    lr.steps_per_epoch = 12;
    lr.step_epochs = 1;
    lr.gamma = 0.5;
    std::vector<Tensor> params = b.parameters(), bufs;
    for (auto& p : params) bufs.push_back(p.zeros_like());
    Tensor x = Tensor::empty({kBatch, kDim}), y = Tensor::empty({kBatch}, DType::Int64);
    for (int64_t s = 0; s < 36; ++s) {
      pb.train->gather(Tensor::from_vector<int64_t>({s % 12}, {1}), x, y);
      b.zero_grad();
      mean(cross_entropy(b(x), y)).backward();
      std::vector<Tensor> grads;
      for (auto& p : params) grads.push_back(p.grad());
      sgd_update(params, grads, bufs, SgdOptions{lr.at(s), 0.9, 0.0, false});
    }
    auto pa = a.parameters();
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_EQ(pa[i].to_vector<float>(), params[i].to_vector<float>()) << "parameter " << i;
  }
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheCheckpoint) {
  std::string dir = test::temp_dir("nonfinite");
  Problem pb;
  TinyNet net(kDim, 16, kClasses, 0);
  net.poison_at = 15;  // step 15: inside the second epoch-equivalent
  TrainConfig c = config(0.5, 4);
  RunLog log(dir);
  log.start(config_to_json(c));
  std::string model_after_first;
  Trainer t(c, net, *pb.train, *pb.test, Device::cpu(), DType::Float32, &log);
  TrainResult r = t.run(eval_hook([&](const MetricsRow&) {
    model_after_first = read_file(dir + "/model.safetensors");
  }));
  EXPECT_EQ(r.status, TrainStatus::NonFinite);
  EXPECT_EQ(r.bad_step, 15);
  EXPECT_EQ(r.steps, 24);  // found at the flush of step 24
  EXPECT_EQ(r.checkpoint_step, 12);
  EXPECT_NE(r.message.find("step 15"), std::string::npos);
  EXPECT_EQ(read_file(dir + "/model.safetensors"), model_after_first);
  EXPECT_EQ(parse_trace(read_file(dir + "/trace.csv")).size(), 12u);
  EXPECT_EQ(lines(read_file(dir + "/metrics.csv")).size(), 2u);
  std::filesystem::remove_all(dir);
}

TEST(Trainer, BadValues) {
  Problem small(Device::cpu(), 7, 40);  // fewer samples than one batch
  TinyNet net(kDim, 16, kClasses, 0);
  EXPECT_THROW(Trainer(config(0.5, 2), net, *small.train, *small.test, Device::cpu(), DType::Float32, nullptr), Error);
  Problem pb;
  EXPECT_THROW(Trainer(config(0.0, 2), net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr), Error);
  EXPECT_THROW(Trainer(config(0.05, 2), net, *pb.train, *pb.test, Device::cpu(), DType::Float32, nullptr), Error);
  Problem no_test(Device::cpu(), 96, 5);
  EXPECT_THROW(Trainer(config(1.0, 2), net, *no_test.train, *no_test.test, Device::cpu(), DType::Float32, nullptr),
               Error);
}

TEST(Trainer, Float64Run) {
  Problem pb;
  TinyNet net(kDim, 16, kClasses, 0);
  net.to(DType::Float64);
  Trainer t(config(0.5, 2), net, *pb.train, *pb.test, Device::cpu(), DType::Float64, nullptr);
  TrainResult r = t.run();
  EXPECT_EQ(r.status, TrainStatus::Completed);
  EXPECT_LT(r.last.train.loss, std::log(4.0));
}
