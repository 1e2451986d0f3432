// The comparisons the trainer tests on two devices rely on (tests/support/train_util.h): two
// checkpoints equal apart from their wall-clock time and checksum, schedules equal except where a
// selection pass parts at a near-tie, and the count of near-tie logit rows. Checked on the CPU, so
// the GPU tests that use them compare what they claim to.
#include <filesystem>
#include <string>
#include <vector>

#include "support/test_util.h"
#include "support/train_util.h"
#include "train/checkpoint.h"
#include "train/files.h"

using namespace dybat;
using dybat::test::checkpoint_difference;
using dybat::test::match_schedules;
using dybat::test::ScheduleMatch;

namespace {

CheckpointState state(double elapsed_s) {
  CheckpointState st;
  st.step = 24;
  st.pass = 2;
  st.position = 3;
  st.score = Tensor::from_vector<float>({1.5f, 0.25f, 2.0f}, {3});
  st.order = Tensor::from_vector<int64_t>({0, 2, 1}, {3});
  st.seed = 7;
  st.elapsed_s = elapsed_s;
  st.backend = "cuda";
  st.cudnn_algorithms = "0,1=1:3/0:3/1:3";
  return st;
}

// Checkpoints written into fresh folders, removed at the end.
struct Saved {
  std::vector<std::string> dirs;
  ~Saved() {
    for (const std::string& d : dirs) std::filesystem::remove_all(d);
  }
  // Writes `st` and returns the path of its state file.
  std::string operator()(const std::string& name, const CheckpointState& st) {
    dirs.push_back(test::temp_dir(name));
    test::TinyNet net(4, 3, 2, 0);
    save_checkpoint(dirs.back(), net, st);
    return dirs.back() + "/state.safetensors";
  }
};

std::vector<TraceRow> trace(const std::vector<std::pair<int64_t, float>>& rows) {
  std::vector<TraceRow> t;
  for (size_t i = 0; i < rows.size(); ++i) t.push_back({static_cast<int64_t>(i + 1), rows[i].first, rows[i].second});
  return t;
}

}  // namespace

TEST(TrainTestUtil, CheckpointDifferenceIgnoresExactlyTheTimeAndTheChecksum) {
  Saved saved;
  const std::string a = saved("ckdiff_a", state(1.25)), b = saved("ckdiff_b", state(9.75));
  EXPECT_NE(read_file(a), read_file(b));  // a byte-for-byte comparison fails on the time alone
  EXPECT_EQ(checkpoint_difference(a, b), "");
  EXPECT_EQ(test::volatile_checkpoint_fields(), (std::set<std::string>{"elapsed_s", "crc32"}));

  // Every other field counts.
  CheckpointState st = state(1.25);
  st.step = 25;
  EXPECT_NE(checkpoint_difference(a, saved("ckdiff_step", st)).find("step=24"), std::string::npos);
  st = state(1.25);
  st.backend = "cpu";
  EXPECT_NE(checkpoint_difference(a, saved("ckdiff_backend", st)).find("backend"), std::string::npos);
  st = state(1.25);
  st.cudnn_algorithms = "";
  EXPECT_NE(checkpoint_difference(a, saved("ckdiff_algos", st)).find("cudnn_algorithms"), std::string::npos);
  st = state(1.25);
  st.score = Tensor::from_vector<float>({1.5f, 0.25f, 2.0000002f}, {3});
  EXPECT_EQ(checkpoint_difference(a, saved("ckdiff_score", st)), "tensor 'score' differs");
  st = state(1.25);
  st.momentum = {{"fc1.weight", Tensor::zeros({2})}};
  EXPECT_EQ(checkpoint_difference(a, saved("ckdiff_momentum", st)), "2 tensors against 3");
}

TEST(TrainTestUtil, SchedulesMayPartOnlyAtANearTie) {
  // b = 4 batches, k = 2: a warm-up pass over 0..3, then passes over the two highest scores.
  const auto ref = trace({{0, 1.0f}, {1, 3.0f}, {2, 2.0f}, {3, 2.00001f}, {1, 2.5f}, {3, 1.5f}});
  ScheduleMatch same = match_schedules(ref, ref, 4, 2, 1e-4);
  EXPECT_EQ(same.error, "");
  EXPECT_EQ(same.compared_steps, 6);
  EXPECT_EQ(same.near_tie_step, 0);

  // Batches 2 and 3 scored 2.0 and 2.00001: within the tolerance, so either may be chosen.
  const auto tie = trace({{0, 1.0f}, {1, 3.0f}, {2, 2.0f}, {3, 2.00001f}, {1, 2.5f}, {2, 1.75f}});
  ScheduleMatch parted = match_schedules(ref, tie, 4, 2, 1e-4);
  EXPECT_EQ(parted.error, "");
  EXPECT_EQ(parted.near_tie_step, 5);
  EXPECT_EQ(parted.compared_steps, 4);

  // Batch 0 scored 1.0 against 2.00001: choosing it instead is a real difference.
  const auto wrong = trace({{0, 1.0f}, {1, 3.0f}, {2, 2.0f}, {3, 2.00001f}, {0, 2.5f}, {1, 1.5f}});
  EXPECT_NE(match_schedules(ref, wrong, 4, 2, 1e-4).error.find("apart by more than the tolerance"), std::string::npos);
  // So is a loss beyond the tolerance, a batch out of order, or a trace of another length.
  const auto loss = trace({{0, 1.0f}, {1, 3.001f}, {2, 2.0f}, {3, 2.00001f}, {1, 2.5f}, {3, 1.5f}});
  EXPECT_NE(match_schedules(ref, loss, 4, 2, 1e-4).error.find("step 2: loss"), std::string::npos);
  const auto order = trace({{1, 1.0f}, {0, 3.0f}, {2, 2.0f}, {3, 2.00001f}, {1, 2.5f}, {3, 1.5f}});
  EXPECT_NE(match_schedules(ref, order, 4, 2, 1e-4).error.find("step 1 trains batch 0"), std::string::npos);
  EXPECT_NE(match_schedules(ref, trace({{0, 1.0f}}), 4, 2, 1e-4).error, "");
}

TEST(TrainTestUtil, NearTieRowsCountsRowsWhoseTopTwoAreWithinTheTolerance) {
  Tensor logits = Tensor::from_vector<float>({1.0f, 1.0000001f, 0.0f,  //
                                              3.0f, 1.0f, 0.0f,        //
                                              -2.0f, 5.0f, 5.0f},
                                             {3, 3});
  EXPECT_EQ(test::near_tie_rows(logits, 1e-4), 2);
  EXPECT_EQ(test::near_tie_rows(logits, 0.0), 1);  // only the exact tie
}
