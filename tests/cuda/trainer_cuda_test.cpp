// The training loop on a CUDA device, with the small net and clusters of the CPU trainer tests
// (tests/train/trainer_test.cpp): the step loop does no transfers or synchronisations, CUDA
// graphs give the plain loop's results and allocate nothing once captured, step-dependent
// sources run without graphs, and the schedule matches the CPU's up to near-ties.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/copy.h"
#include "support/test_util.h"
#include "support/train_util.h"
#include "train/config.h"
#include "train/files.h"
#include "train/run_log.h"
#include "train/trainer.h"

using namespace dybat;
using dybat::test::config;
using dybat::test::kBatch;
using dybat::test::kClasses;
using dybat::test::kDim;
using dybat::test::Problem;
using dybat::test::step_hook;
using dybat::test::TinyNet;
using dybat::test::without_timing;

TEST(CudaTrainer, StepLoopHasNoTransfersOrSyncs) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  Problem pb(d);
  TinyNet net(kDim, 16, kClasses, 0);
  net.to(d);
  Trainer t(config(0.5, 4), net, *pb.train, *pb.test, d, DType::Float32, nullptr);
  std::vector<TransferCounters> at(49);
  t.run(step_hook([&](int64_t s) { at[s] = transfer_counters(); }));
  for (int64_t s = 3; s <= 48; ++s) {  // from step 2 on: caches (e.g. the SGD table) are warm
    if ((s - 1) % 12 == 0) continue;
    EXPECT_EQ(at[s].device_to_host, at[s - 1].device_to_host) << "step " << s;
    EXPECT_EQ(at[s].host_to_device, at[s - 1].host_to_device) << "step " << s;
    EXPECT_EQ(at[s].syncs, at[s - 1].syncs) << "step " << s;
    EXPECT_EQ(at[s].host_reads, at[s - 1].host_reads) << "step " << s;
  }
}

TEST(CudaTrainer, GraphsGiveThePlainLoopsResults) {
  // The same run with the step and the evaluation batches replayed from CUDA graphs and without
  // them: bit-identical traces, metrics, weights and training state (the same kernels with the
  // same arguments); only the times differ.
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  std::string on = test::temp_dir("cuda_graph_on"), off = test::temp_dir("cuda_graph_off");
  for (const char* mode : {"on", "off"}) {
    Problem pb(d);
    TinyNet net(kDim, 16, kClasses, 0);
    net.to(d);
    TrainConfig c = config(0.5, 4);
    c.lr_schedule = "cosine";
    c.cuda_graph = mode;
    const std::string& dir = std::string(mode) == "on" ? on : off;
    RunLog log(dir);
    log.start(config_to_json(c));
    Trainer t(c, net, *pb.train, *pb.test, d, DType::Float32, &log);
    EXPECT_EQ(t.uses_cuda_graphs(), std::string(mode) == "on");
    EXPECT_EQ(t.run().status, TrainStatus::Completed);
  }
  EXPECT_EQ(read_file(on + "/trace.csv"), read_file(off + "/trace.csv"));
  EXPECT_EQ(without_timing(read_file(on + "/metrics.csv")), without_timing(read_file(off + "/metrics.csv")));
  EXPECT_EQ(read_file(on + "/model.safetensors"), read_file(off + "/model.safetensors"));
  // state.safetensors also holds the wall-clock time and a CRC over it: compare all else.
  EXPECT_EQ(test::checkpoint_difference(on + "/state.safetensors", off + "/state.safetensors"), "");
  std::filesystem::remove_all(on);
  std::filesystem::remove_all(off);
}

TEST(CudaTrainer, StepDependentSourcesRunWithoutGraphs) {
  // A source whose batches depend on host state set per step (augmentation) would be frozen at the
  // captured step by a graph: the trainer runs it plainly.
  DYBAT_REQUIRE_GPU();
  struct Augmenting : TensorBatches {
    using TensorBatches::TensorBatches;
    bool step_dependent() const override { return true; }
  };
  Device d = Device::cuda();
  auto [xt, yt] = test::clusters(96, kDim, kClasses, 1, d);
  Augmenting train(xt, yt, kBatch);
  Problem pb(d);
  TinyNet net(kDim, 16, kClasses, 0);
  net.to(d);
  Trainer t(config(0.5, 2), net, train, *pb.test, d, DType::Float32, nullptr);
  EXPECT_FALSE(t.uses_cuda_graphs());
  EXPECT_EQ(t.run().status, TrainStatus::Completed);
}

TEST(CudaTrainer, GraphStepsAllocateNothing) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  Problem pb(d);
  TinyNet net(kDim, 16, kClasses, 0);
  net.to(d);
  Trainer t(config(0.5, 4), net, *pb.train, *pb.test, d, DType::Float32, nullptr);
  ASSERT_TRUE(t.uses_cuda_graphs());
  std::vector<uint64_t> allocs(49);
  t.run(step_hook([&](int64_t s) { allocs[s] = cuda_allocator(0).stats().system_allocs; }));
  for (int64_t s = 4; s <= 48; ++s) {  // step 3 captured; later ones are replays
    if ((s - 1) % 12 == 0 && s <= 37) continue;  // the first evaluations warm up their own graphs
    EXPECT_EQ(allocs[s], allocs[s - 1]) << "step " << s;
  }
}

TEST(CudaTrainer, MatchesTheCpuSchedule) {
  // The same DyBAT run on both devices. Float32 sums in another order differ in the last bits, so
  // losses agree within a tolerance, and an order decided by values within that tolerance (two
  // batch scores at the top-k boundary, two logits at a sample's top) may come out either way.
  // So: the schedules must be identical wherever the scores are apart by more than the tolerance
  // (match_schedules); if a selection pass goes apart at a near-tie the runs part there and only
  // the steps before it are compared. Otherwise the final order is the same and top-1 differs by
  // at most the samples whose two best logits are within the tolerance.
  DYBAT_REQUIRE_GPU();
  constexpr double kTol = 1e-4;
  Device d = Device::cuda();
  std::string gdir = test::temp_dir("cuda_schedule_gpu"), cdir = test::temp_dir("cuda_schedule_cpu");
  Problem gpu(d), cpu;
  TinyNet a(kDim, 16, kClasses, 0), b(kDim, 16, kClasses, 0);
  a.to(d);
  TrainConfig c = config(0.5, 3);
  RunLog glog(gdir), clog(cdir);
  glog.start(config_to_json(c));
  clog.start(config_to_json(c));
  Trainer tg(c, a, *gpu.train, *gpu.test, d, DType::Float32, &glog);
  Trainer tc(c, b, *cpu.train, *cpu.test, Device::cpu(), DType::Float32, &clog);
  TrainResult rg = tg.run(), rc = tc.run();
  const int64_t nb = 12, k = 6;
  test::ScheduleMatch m = test::match_schedules(parse_trace(read_file(cdir + "/trace.csv")),
                                                parse_trace(read_file(gdir + "/trace.csv")), nb, k, kTol);
  EXPECT_EQ(m.error, "");
  EXPECT_GE(m.compared_steps, nb);  // the warm-up pass at least: no choice in it
  if (m.error.empty() && m.near_tie_step == 0) {
    EXPECT_EQ(m.compared_steps, 3 * nb);
    EXPECT_EQ(tg.selection().order().to_vector<int64_t>(), tc.selection().order().to_vector<int64_t>());
    EXPECT_NEAR(rg.last.train.loss, rc.last.train.loss, kTol * (1 + std::abs(rc.last.train.loss)));
    // top-1 in percent over the 40 test samples; a near-tie sample may flip (2.5 points each).
    int64_t ties = 0;
    Tensor x = Tensor::empty({kBatch, kDim}), y = Tensor::empty({kBatch}, DType::Int64);
    for (int64_t i = 0; i < 5; ++i) {
      cpu.test->gather(Tensor::from_vector<int64_t>({i}, {1}), x, y);
      ties += test::near_tie_rows(b(x), kTol);
    }
    EXPECT_LE(std::abs(rg.last.test.top1 - rc.last.test.top1), 100.0 * ties / 40 + 1e-9) << ties << " near-ties";
  } else if (m.near_tie_step) {
    std::printf("the runs parted at a near-tie in the pass starting at step %lld (compared up to there)\n",
                static_cast<long long>(m.near_tie_step));
  }
  std::filesystem::remove_all(gdir);
  std::filesystem::remove_all(cdir);
}
