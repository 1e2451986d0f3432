// Data-parallel runs on the CPU under `mpirun --oversubscribe`: the MPI collectives (dist_check),
// N-rank training against one process (trace, weights, metrics; tools/eval too), the selection
// check without --sync-bn, a killed rank and a failing rank ending the job, resume, and the bad
// launches. Each mpirun gets a time limit in the harness (`timeout`) only as a safety net: a run
// that reaches it has hung and fails the test; nothing is timed.
//
// mpirun refuses to run as root unless OMPI_ALLOW_RUN_AS_ROOT=1 and
// OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 are set (CI containers run as root); the harness sets both.
// These tests skip, with the reason, only where mpirun is not installed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/safetensors.h"
#include "support/paths.h"
#include "support/test_util.h"
#include "support/train_util.h"
#include "support/run_util.h"
#include "train/files.h"
#include "train/run_log.h"

namespace {

using dybat::test::RunResult;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

#define DYBAT_REQUIRE_MPIRUN()                                                                               \
  do {                                                                                                       \
    if (!dybat::test::mpirun_available())                                                                    \
      GTEST_SKIP() << "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)";                \
    ASSERT_TRUE(DYBAT_MPI_PLUGIN) << "mpirun is installed but this build has no MPI plugin (DYBAT_MPI=OFF: " \
                                     "libopenmpi-dev was missing when the build was configured)";            \
  } while (0)

constexpr int kLimitSeconds = 120;  // the hang safety net for one mpirun

// mpirun with the harness's settings (tools/run_util.h); a run that reaches the limit fails.
RunResult mpirun(const std::string& spec) {
  RunResult r = dybat::test::run_mpirun(spec, kLimitSeconds);
  EXPECT_NE(r.exit_code, 124) << "mpirun did not finish within " << kLimitSeconds << " s (a hang): " << spec << "\n"
                              << r.output;
  return r;
}

std::string train() { return dybat::test::program_path("train"); }

// MobileNetV3-Small (BatchNorm, SE) on 48 synthetic images at 32 px, batch 12 (b = 4, k = 2): 8
// steps in 2 epochs (the warm-up and two selection passes), an evaluation and checkpoint every 4.
// float64, so that runs whose sums are taken in another order stay close (float32 training of
// this net on random data amplifies rounding: even one process with 1 and 2 threads drifts apart
// within a few steps).
std::string quick(const std::string& out, const std::string& extra = "", int batch = 12) {
  return "--net mobilenetv3_small_100 --dataset synthetic --device cpu --crop 32 --batch-size " +
         std::to_string(batch) + " --train-limit 48 --test-limit 12 --delta 0.5 --epochs 2 --dtype float64 --out " +
         out + extra;
}

// A run's trace, metrics without timings, and final weights.
struct Outcome {
  std::vector<dybat::TraceRow> trace;
  std::vector<nlohmann::json> metrics;
  dybat::NamedTensors weights;
};

Outcome outcome(const std::string& dir) {
  Outcome o;
  o.trace = dybat::parse_trace(dybat::read_file(dir + "/trace.csv"));
  std::istringstream jsonl(dybat::read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(jsonl, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("elapsed_s");
    j.erase("img_per_s");
    o.metrics.push_back(j);
  }
  o.weights = dybat::read_safetensors(dir + "/model.safetensors").tensors;
  return o;
}

// The same batch ids exactly; losses within `loss_tol` (relative), metrics within 1e-5 and
// weights within `weight_tol` of their magnitude (0: equal). After 8 steps the float64 runs of
// N ranks differ from one process's in the order of their sums; the net amplifies those 1e-16
// differences to about 1e-8 in the weights, far below what any error in the reductions gives
// (a gradient off by a rank's share moves weights by 1e-4 and more).
void expect_same_run(const Outcome& a, const Outcome& b, double loss_tol, double weight_tol, const std::string& what) {
  ASSERT_EQ(a.trace.size(), b.trace.size()) << what;
  for (size_t i = 0; i < a.trace.size(); ++i) {
    EXPECT_EQ(a.trace[i].batch_id, b.trace[i].batch_id) << what << ": step " << a.trace[i].step;
    EXPECT_LE(std::abs(a.trace[i].loss - b.trace[i].loss), loss_tol * std::abs(a.trace[i].loss))
        << what << ": step " << i + 1;
  }
  ASSERT_EQ(a.metrics.size(), b.metrics.size()) << what;
  for (size_t i = 0; i < a.metrics.size(); ++i)
    for (auto it = a.metrics[i].begin(); it != a.metrics[i].end(); ++it)
      EXPECT_NEAR(it.value().get<double>(), b.metrics[i][it.key()].get<double>(), 1e-5) << what << ": " << it.key();
  ASSERT_EQ(a.weights.size(), b.weights.size()) << what;
  for (size_t i = 0; i < a.weights.size(); ++i) {
    const double scale = std::max(1.0, dybat::test::max_abs(a.weights[i].second));
    EXPECT_LE(dybat::test::max_abs_diff(a.weights[i].second, b.weights[i].second), weight_tol * scale)
        << what << ": " << a.weights[i].first;
  }
}

std::string step_of(const std::string& path) {
  for (const auto& [k, v] : dybat::read_safetensors(path).metadata)
    if (k == "step") return v;
  return "";
}

}  // namespace

TEST(DistCollectives, MpiSumsGathersAndBroadcastsOnTwoAndThreeRanks) {
  DYBAT_REQUIRE_MPIRUN();
  for (int n : {2, 3}) {
    RunResult r = mpirun("-np " + std::to_string(n) + " " + dybat::test::binary_dir() + "/tests/dist_check");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(count_of(r.output, " of " + std::to_string(n) + ": ok"), static_cast<size_t>(n)) << r.output;
    EXPECT_TRUE(contains(r.output, "collectives: ok")) << r.output;
  }
}

TEST(DistTrain, SyncBatchNormRanksEqualOneProcessAndOnlyRankZeroWrites) {
  DYBAT_REQUIRE_MPIRUN();
  const std::string root = dybat::test::temp_dir("dist_same");
  RunResult one = dybat::test::run_tool("train", quick(root + "/one"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const Outcome expected = outcome(root + "/one");
  ASSERT_EQ(expected.trace.size(), 8u);
  // Two ranks; rank 1 cannot write a model file at all (its every write of one fails), so the run
  // succeeding shows that only rank 0 writes checkpoints.
  const std::string two = root + "/two", args = quick(two, " --sync-bn --bucket-mb 0.05");
  RunResult r2 = mpirun("-np 1 " + train() + " " + args + " : -np 1 env DYBAT_FAULT_WRITE=model.safetensors:1 " +
                        train() + " " + args);
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_EQ(count_of(r2.output, "dybat train:"), 1u) << "only rank 0 prints: " << r2.output;
  EXPECT_TRUE(contains(r2.output, "2 processes (mpirun)")) << r2.output;
  expect_same_run(expected, outcome(two), 1e-6, 1e-6, "2 ranks");
  EXPECT_EQ(nlohmann::json::parse(dybat::read_file(two + "/config.json"))["ranks"].get<int>(), 2);
  RunResult r3 = mpirun("-np 3 " + train() + " " + quick(root + "/three", " --sync-bn"));
  ASSERT_EQ(r3.exit_code, 0) << r3.output;
  expect_same_run(expected, outcome(root + "/three"), 1e-6, 1e-6, "3 ranks");

  // tools/eval under mpirun: one JSON line (rank 0), the run's last test metrics.
  RunResult ev = mpirun("-np 2 " + dybat::test::program_path("eval") + " --run " + two + " --json");
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  ASSERT_EQ(count_of(ev.output, "\"test\""), 1u) << ev.output;
  auto j = nlohmann::json::parse(ev.output.substr(ev.output.find('{')));
  EXPECT_NEAR(j["test"]["loss"].get<double>(), expected.metrics.back()["test_loss"].get<double>(), 1e-5);
  EXPECT_NEAR(j["test"]["top1"].get<double>(), expected.metrics.back()["test_top1"].get<double>(), 1e-9);
  std::filesystem::remove_all(root);
}

TEST(DistTrain, PerRankBatchNormStillSelectsTheSameBatchesOnEveryRank) {
  DYBAT_REQUIRE_MPIRUN();
  const std::string root = dybat::test::temp_dir("dist_select");
  // Without --sync-bn the losses differ from one process's, but the ranks compare the batch ids
  // they trained on at every evaluation, so a completed run had one selection on every rank.
  RunResult ok = mpirun("-np 2 " + train() + " " + quick(root + "/ok"));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(outcome(root + "/ok").trace.size(), 8u);
  // The comparison is real: rank 1's scores negated after the first evaluation make its next pass
  // choose other batches, and every rank stops at the next evaluation naming the step.
  const std::string args = quick(root + "/bad");
  RunResult bad =
      mpirun("-np 1 " + train() + " " + args + " : -np 1 env DYBAT_FAULT_DIVERGE_RANK=1 " + train() + " " + args);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(contains(bad.output, "the ranks trained on different batches at step")) << bad.output;
  EXPECT_TRUE(contains(bad.output, "rank 1 batch")) << bad.output;
  std::filesystem::remove_all(root);
}

TEST(DistFaults, KilledOrFailingRankEndsTheJobAndResumeFinishesTheRun) {
  DYBAT_REQUIRE_MPIRUN();
  const std::string root = dybat::test::temp_dir("dist_kill");
  RunResult whole = mpirun("-np 2 " + train() + " " + quick(root + "/whole", " --sync-bn"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;

  // Rank 1 dies by SIGKILL after step 6: mpirun ends rank 0 too and names the dead rank; the
  // checkpoint of step 4 is kept.
  const std::string dir = root + "/run", args = quick(dir, " --sync-bn");
  RunResult killed =
      mpirun("-np 1 " + train() + " " + args + " : -np 1 env DYBAT_FAULT_KILL_AT_STEP=6 " + train() + " " + args);
  EXPECT_NE(killed.exit_code, 0) << killed.output;
  EXPECT_TRUE(contains(killed.output, "rank 1")) << killed.output;
  EXPECT_FALSE(contains(killed.output, "done:")) << killed.output;
  EXPECT_EQ(step_of(dir + "/state.safetensors"), "4");

  // Another process count is refused.
  RunResult other = dybat::test::run_tool("train", "--resume " + dir);
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_TRUE(contains(other.output, "trained by 2 processes (mpirun -np 2), this launch has one process"))
      << other.output;

  // Rank 0 fails to write the checkpoint of step 8: it reports it and aborts the job.
  RunResult failed = mpirun("-np 2 env DYBAT_FAULT_WRITE=state.safetensors:1 " + train() + " --resume " + dir);
  EXPECT_EQ(failed.exit_code, 2) << failed.output;
  EXPECT_TRUE(contains(failed.output, "error (rank 0 of 2): training stopped: the checkpoint of step 8"))
      << failed.output;
  EXPECT_EQ(step_of(dir + "/state.safetensors"), "4");

  // Resumed with two ranks, the run ends as the uninterrupted one.
  RunResult resumed = mpirun("-np 2 " + train() + " --resume " + dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "resumed at step 4")) << resumed.output;
  expect_same_run(outcome(root + "/whole"), outcome(dir), 0.0, 0.0, "resumed");
  std::filesystem::remove_all(root);
}

TEST(DistLaunch, BadLaunchesExitTwoBeforeTraining) {
  DYBAT_REQUIRE_MPIRUN();
  const std::string root = dybat::test::temp_dir("dist_bad");
  struct Case {
    std::string spec, message;
  } cases[] = {
      {"-np 3 " + train() + " " + quick(root + "/a", "", 16),
       "--batch-size 16 does not divide into 3 processes (mpirun -np 3)"},
      {"-np 3 " + train() + " " + quick(root + "/b", "", 2), "--batch-size 2 is smaller than the 3 processes"},
      {"-np 1 " + train() + " " + quick(root + "/c") + " : -np 1 " + train() + " " + quick(root + "/c", " --lr 0.1"),
       "the processes were started with different arguments (rank 1's differ from rank 0's)"},
      {"-np 2 " + train() + " " + quick(root + "/d", " --bogus"), "bogus"},
      {"-np 2 " + train() + " " + quick(root + "/e", " --select random"),
       "--select random runs in one process only: under mpirun only --select dybat"},
  };
  for (const Case& c : cases) {
    RunResult r = mpirun(c.spec);
    EXPECT_EQ(r.exit_code, 2) << c.spec << "\n" << r.output;
    EXPECT_EQ(count_of(r.output, c.message), 1u) << "printed once: " << c.spec << "\n" << r.output;
    EXPECT_FALSE(contains(r.output, "dybat train:")) << "before training: " << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(root + "/a"));
  std::filesystem::remove_all(root);
}
