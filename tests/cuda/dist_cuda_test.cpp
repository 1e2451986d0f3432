// The data-parallel path on CUDA: the synchronised batch norm and the global batch-loss kernels
// against the CPU float64 reference (a one-rank collective), NCCL collectives of one rank inside a
// CUDA graph, a whole data-parallel training step (gradient buckets on NCCL's side stream, the
// global loss) captured and replayed against the plain step, and two GPUs under mpirun against
// one process. Skipped without a GPU (and the last without two GPUs and mpirun).
#include <cmath>

#include "core/copy.h"
#include "support/parity_util.h"
#include "kernels/batchnorm_sync.h"
#include "kernels/loss.h"
#include "support/paths.h"
#include "support/train_util.h"
#include "support/run_util.h"
#include "train/dist.h"
#include "train/files.h"
#include "train/global_loss.h"
#include "train/grad_sync.h"
#include "train/graphed_step.h"
#include "train/run_log.h"
#include "train/selection.h"
#include "train/step.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, SyncBatchNormMatchesTheCpu) {
  DYBAT_REQUIRE_GPU();
  auto one = single_process_communicator(Device::cuda(0));
  uint64_t seed = 500;
  for (const Shape& s : {Shape{8, 16, 9, 7}, Shape{2, 5, 1, 1}, Shape{33, 20}})
    for (Act act : {Act::None, Act::ReLU, Act::HardSwish}) {
      const int64_t c = s[1];
      BatchNormOptions opt{true, true, 0.1, 1e-5, act};
      Tensor x = round32(rand(s, seed++, -2, 3), true), res = round32(rand(s, seed++), true);
      Tensor gamma = round32(rand({c}, seed++, 0.5, 1.5), true), beta = round32(rand({c}, seed++), true);
      Tensor rm = round32(rand({c}, seed++)), rv = round32(rand({c}, seed++, 0.5, 2)), g = round32(rand(s, seed++));
      Tensor xg = to_gpu32(x, true), resg = to_gpu32(res, true), gammag = to_gpu32(gamma, true),
             betag = to_gpu32(beta, true), rmg = to_gpu32(rm), rvg = to_gpu32(rv);
      Tensor out = batch_norm(x, gamma, beta, rm, rv, opt, res);
      out.backward(g);
      Tensor outg = sync_batch_norm(xg, gammag, betag, rmg, rvg, opt, *one, resg);
      outg.backward(to_gpu32(g));
      const std::string what = shape_str(s) + " " + act_name(act);
      EXPECT_TRUE(close_to_ref(outg, out, 1e-5)) << what;
      EXPECT_TRUE(close_to_ref(rmg, rm, 1e-6)) << what;
      EXPECT_TRUE(close_to_ref(rvg, rv, 1e-6)) << what;
      EXPECT_TRUE(close_to_ref(xg.grad(), x.grad(), 1e-5)) << what;
      EXPECT_TRUE(close_to_ref(gammag.grad(), gamma.grad(), 2e-5)) << what;
      EXPECT_TRUE(close_to_ref(betag.grad(), beta.grad(), 2e-5)) << what;
      EXPECT_TRUE(close_to_ref(resg.grad(), res.grad(), 1e-5)) << what;
    }
}

TEST(CudaParity, GlobalBatchLossRecordMatchesTheCpu) {
  DYBAT_REQUIRE_GPU();
  for (Device d : {Device::cpu(), Device::cuda(0)}) {
    Tensor losses = Tensor::from_vector<float>({0.5f, 1.25f, 2.0f, 3.5f, 0.125f}, {5}).to(d);
    Tensor sums = Tensor::zeros({2}, DType::Float64, d), id = Tensor::full({1}, 2, DType::Int64, d);
    Tensor counters = Tensor::from_vector<int64_t>({6, 0, 0}, {3}).to(d), score = Tensor::zeros({4}, DType::Float32, d);
    Tensor ids = Tensor::zeros({2}, DType::Int64, d), trace = Tensor::zeros({2}, DType::Float32, d);
    Tensor bad = Tensor::zeros({1}, DType::Int64, d);
    batch_loss_sums(losses, sums);
    EXPECT_EQ(sums.to_vector<double>(), (std::vector<double>{7.375, 5.0})) << d.str();
    record_step_sums(sums, id, counters, score, ids, trace, bad);
    EXPECT_EQ(score.to_vector<float>()[2], static_cast<float>(7.375 / 5.0)) << d.str();
    EXPECT_EQ(ids.to_vector<int64_t>()[0], 2) << d.str();
    EXPECT_EQ(counters.to_vector<int64_t>(), (std::vector<int64_t>{7, 1, 0})) << d.str();
    sums.copy_(Tensor::from_vector<double>({NAN, 5.0}, {2}));
    record_step_sums(sums, id, counters, score, ids, trace, bad);
    EXPECT_EQ(bad.item(), 8.0) << d.str();  // the step (from 1) of the non-finite loss
  }
}

TEST(CudaNccl, OneRankCollectivesReplayInsideACudaGraph) {
  DYBAT_REQUIRE_GPU();
  const Device d = Device::cuda(0);
  auto host = single_process_communicator(Device::cpu());
  auto nccl = nccl_communicator(*host, d);
  ASSERT_EQ(nccl->size(), 1);
  Tensor x = Tensor::zeros({1000}, DType::Float32, d), one = Tensor::ones({1000}, DType::Float32, d);
  Tensor gathered = Tensor::zeros({4, 3}, DType::Float64, d), counts = Tensor::zeros({2}, DType::Int64, d);
  auto work = [&] {
    add_into(x, one);  // a kernel before the collectives: the replay must see its result
    nccl->all_reduce_sum(x);
    nccl->all_gather(gathered);
    nccl->broadcast(counts, 0);
    auto pending = nccl->start_all_reduce_sum(x);  // the side stream: fork and join in the graph
    pending->wait();
    add_into(x, one);
  };
  GraphedStep step(d, GraphedStep::Mode::Graph, "NCCL collectives");
  for (int i = 0; i < 5; ++i) step.run(work);  // eager, warm-up, capture + replay, two replays
  EXPECT_TRUE(step.past_warm_up());
  EXPECT_EQ(x.to_vector<float>()[999], 10.0f);
}

TEST(CudaNccl, OneRankDataParallelStepInAGraphEqualsThePlainStep) {
  DYBAT_REQUIRE_GPU();
  const Device d = Device::cuda(0);
  auto [x, y] = clusters(16, 6, 3, 5, d);
  auto host = single_process_communicator(Device::cpu());
  auto nccl = nccl_communicator(*host, d);
  auto buckets = nccl->duplicate();
  TinyNet plain(6, 8, 3, 2), dp(6, 8, 3, 2);
  plain.to(d);
  dp.to(d);
  const Tensor lr = Tensor::full({1}, 0.05, DType::Float64, d);
  TrainStep a(plain, SgdOptions{0.05, 0.9, 0, false}, 16, DType::Float32, d),
      b(dp, SgdOptions{0.05, 0.9, 0, false}, 16, DType::Float32, d);
  GradientSync sync(dp, *buckets, 64);  // several buckets
  b.set_gradient_sync(&sync, 16);
  SchedulePlan plan = make_schedule(1, 1.0, 6);
  SelectionState sel_a(plan, d, 8), sel_b(plan, d, 8);
  sel_b.set_collective(nccl.get());
  auto step_of = [&](TrainStep& s, SelectionState& sel) {
    return [&] {
      Tensor chosen = sel.choose_batch();
      Tensor losses = s.forward(x, y);
      sel.record(losses.detach(), chosen);
      s.update(losses, lr);
    };
  };
  GraphedStep ga(d, GraphedStep::Mode::Graph, "plain step"), gb(d, GraphedStep::Mode::Graph, "data-parallel step");
  for (int i = 0; i < 6; ++i) {
    sel_a.check_step(i);
    ga.run(step_of(a, sel_a));
    sel_a.step_done();
    sel_b.check_step(i);
    gb.run(step_of(b, sel_b));
    sel_b.step_done();
  }
  EXPECT_GT(sync.buckets().size(), 1u);
  for (size_t i = 0; i < plain.parameters().size(); ++i)
    EXPECT_TRUE(close_to_ref(dp.parameters()[i], plain.parameters()[i].cpu().to(DType::Float64), 1e-6)) << i;
  auto ta = sel_a.flush(), tb = sel_b.flush();
  ASSERT_EQ(ta.rows.size(), tb.rows.size());
  for (size_t i = 0; i < ta.rows.size(); ++i) EXPECT_NEAR(ta.rows[i].loss, tb.rows[i].loss, 1e-6) << i;
}

TEST(CudaNccl, TwoGpusUnderMpirunTrainAsOneProcess) {
  DYBAT_REQUIRE_GPU();
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs two GPUs (this machine has " << cuda_device_count() << ")";
  if (!mpirun_available()) GTEST_SKIP() << "mpirun is not installed (apt-get install openmpi-bin)";
  const std::string root = temp_dir("nccl_two");
  const std::string args =
      " --net resnet18 --dataset synthetic --crop 32 --batch-size 32 --train-limit 256 "
      "--test-limit 64 --delta 0.5 --epochs 2 --device cuda --sync-bn --out ";
  RunResult one = run_tool("train", args + root + "/one");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  RunResult two = run_mpirun("-np 2 " + program_path("train") + args + root + "/two", 300);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  auto a = parse_trace(read_file(root + "/one/trace.csv")), b = parse_trace(read_file(root + "/two/trace.csv"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].batch_id, b[i].batch_id) << "step " << a[i].step;
    EXPECT_NEAR(a[i].loss, b[i].loss, 1e-3 * std::abs(a[i].loss)) << "step " << a[i].step;
  }
}
