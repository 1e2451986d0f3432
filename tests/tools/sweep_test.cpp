// The sweep program end to end on tiny synthetic runs: bad grids exit 2 before anything runs, a
// sweep killed mid-grid continues (a finished run is not redone, the interrupted one resumes to
// the uninterrupted result), and a failing run is reported without stopping the others.
#include <cstdlib>
#include <filesystem>

#include "support/test_util.h"
#include "support/train_util.h"
#include "support/run_util.h"
#include "train/files.h"
#include "train/sweep_runs.h"

namespace {

using dybat::read_file;
using dybat::test::run_tool;
using dybat::test::RunResult;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Train flags of a tiny run: MobileNetV3-Small on 32 synthetic images at 32 px, batch 8 (b = 4),
// two epochs = 8 steps, an evaluation and checkpoint every 4 steps.
const char* const kData = " --dataset synthetic --crop 32 --batch-size 8 --train-limit 32 --test-limit 8 --epochs 2";
const std::string kTiny = std::string(kData) + " --device cpu";

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(SweepTool, BadGridsExitTwoBeforeAnythingRuns) {
  const std::string root = dybat::test::temp_dir("sweep_bad"), out = root + "/sweep";
  struct Case {
    std::string args, message;
  } cases[] = {
      {"--nets resnet18,nosuchnet --delta 1", "unknown net 'nosuchnet'"},
      {"--nets resnet18 --select hardest --delta 1", "unknown method 'hardest'"},
      {"--nets resnet18 --select random --delta 1", "--select random needs a --delta below 1"},
      {"--nets resnet18 --select sample-topk --delta 1 --keep 0", "--keep must be in (0, 1]"},
      {"--nets resnet18 --delta 1,1.5", "--delta: 1.5 is outside (0, 1]"},
      {"--nets resnet18 --delta 0", "--delta: 0 is outside (0, 1]"},
      {"--nets resnet18 --delta ''", "--delta"},
      {"--nets , --delta 1", "--nets: an empty item"},
      {"--nets resnet18 --delta 1 --seeds 0,x", "--seeds: 'x' is not a seed"},
      {"--preset huge", "unknown preset 'huge'"},
      {"--nets resnet18 --delta 1 --momentum 1.5", "--momentum must be in [0, 1), got 1.5"},
      {"--nets resnet18 --delta 1 --crop 64", "--crop: At Most 1 required but received 2"},  // given twice
      {"--nets resnet18 --delta 1 --lr-schedule sometimes", "--lr-schedule"},
      {"--nets resnet18 --delta 1 --bogus-flag", "bogus-flag"},
      {"--nets resnet18 --delta 1 --seed 4", "use --seeds"},
      {"--nets resnet18 --delta 1 --devices cpu,tpu", "unknown device 'tpu'"},
  };
  for (const Case& c : cases) {
    RunResult r = run_tool("sweep", c.args + kData + " --out " + out);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, c.message)) << c.args << "\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(out)) << c.args << ": the sweep folder was made";
  }
  RunResult help = run_tool("sweep", "--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(contains(help.output, "OMPI_COMM_WORLD_RANK")) << help.output;
  std::filesystem::remove_all(root);
}

TEST(SweepTool, KilledSweepResumesWithoutRedoingFinishedRuns) {
  const std::string root = dybat::test::temp_dir("sweep_kill"), out = root + "/sweep";
  const std::string grid = "--nets mobilenetv3_small_100 --delta 1,0.5 --seeds 0" + kTiny + " --out " + out;
  const std::string first = out + "/runs/mobilenetv3_small_100-dybat-d1-s0";
  const std::string second = out + "/runs/mobilenetv3_small_100-dybat-d0.5-s0";
  // The second run dies at step 6 (its last checkpoint is at step 4), and the sweep with it.
  ::setenv("DYBAT_FAULT_SWEEP_KILL", "2:6", 1);
  RunResult killed = run_tool("sweep", grid);
  ::unsetenv("DYBAT_FAULT_SWEEP_KILL");
  // Killed by SIGKILL: -1, or 137 from a shell that waited for it.
  ASSERT_TRUE(killed.exit_code == -1 || killed.exit_code == 137) << killed.exit_code << "\n" << killed.output;
  EXPECT_TRUE(contains(killed.output, "[1/2] mobilenetv3_small_100-dybat-d1-s0: done in")) << killed.output;
  EXPECT_EQ(dybat::inspect_run(first, 2).state, dybat::RunState::Done);
  dybat::RunStatus cut = dybat::inspect_run(second, 2);
  EXPECT_EQ(cut.state, dybat::RunState::Failed);  // killed by a signal that was not a request to stop
  EXPECT_EQ(cut.step, 4);
  EXPECT_FALSE(std::filesystem::exists(out + "/report.md"));
  const std::string first_results = dybat::test::run_results(first), first_log = read_file(first + "/train.log");

  RunResult resumed = run_tool("sweep", grid);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "[1/2] mobilenetv3_small_100-dybat-d1-s0: done already, kept"))
      << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "[2/2] mobilenetv3_small_100-dybat-d0.5-s0: resuming from step 4 of 8"))
      << resumed.output;
  EXPECT_EQ(read_file(first + "/train.log"), first_log);  // never started again
  EXPECT_EQ(dybat::test::run_results(first), first_results);
  EXPECT_TRUE(contains(read_file(second + "/train.log"), "resumed at step 4"));
  EXPECT_EQ(count(read_file(second + "/train.log"), "tools/sweep runs:"), 2u);

  // The resumed run ends where an uninterrupted run of its arguments ends.
  auto state = nlohmann::json::parse(read_file(out + "/sweep.json"));
  std::string args;
  for (const auto& a : state["cells"][1]["args"]) {
    args += ' ';
    args += a.get<std::string>();
  }
  RunResult whole = run_tool("train", args + " --out " + root + "/whole");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_TRUE(dybat::test::run_results(second) == dybat::test::run_results(root + "/whole"))
      << "the resumed run differs from the uninterrupted one";

  auto report = nlohmann::json::parse(read_file(out + "/report.json"));
  EXPECT_EQ(report["runs"][0]["status"], "done");
  EXPECT_EQ(report["runs"][1]["status"], "done");
  EXPECT_TRUE(contains(read_file(out + "/report.md"), "| mobilenetv3_small_100 |"));

  // The report is rebuilt from the folder alone.
  RunResult only = run_tool("sweep", "--report-only --out " + out);
  EXPECT_EQ(only.exit_code, 0) << only.output;
  EXPECT_TRUE(contains(only.output, out + "/report.md")) << only.output;
  // A different setting for the same folder is refused before anything runs.
  RunResult other = run_tool("sweep", grid + " --lr 0.1");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_TRUE(contains(other.output, "holds a run with --lr 0.005")) << other.output;
  std::filesystem::remove_all(root);
}

TEST(SweepTool, FailedRunIsReportedAndTheOthersRun) {
  const std::string root = dybat::test::temp_dir("sweep_fail"), out = root + "/sweep";
  // delta 0.01 of b = 4 batches selects none (train exits 2: raise --delta); it runs first.
  // Two runs at once (--devices cpu,cpu): each gets --device cpu.
  RunResult r = run_tool("sweep",
                         "--nets mobilenetv3_small_100 --delta 0.01,1 --seeds 0 --devices cpu,cpu"
                         " --dataset synthetic --crop 32 --batch-size 8 --train-limit 32 --test-limit 8"
                         " --epochs 1 --out " +
                             out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string bad = out + "/runs/mobilenetv3_small_100-dybat-d0.01-s0";
  EXPECT_TRUE(
      contains(r.output, "[1/2] mobilenetv3_small_100-dybat-d0.01-s0: failed: exit 2, see " + bad + "/train.log"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "raise --delta")) << r.output;
  EXPECT_TRUE(contains(r.output, "[2/2] mobilenetv3_small_100-dybat-d1-s0: done in")) << r.output;
  std::string md = read_file(out + "/report.md");
  EXPECT_TRUE(contains(md, "0/1 done; s0 failed: exit 2, see " + bad + "/train.log")) << md;
  EXPECT_TRUE(contains(md, "| 1/1 done |")) << md;
  auto report = nlohmann::json::parse(read_file(out + "/report.json"));
  EXPECT_EQ(report["runs"][0]["status"], "failed");
  EXPECT_EQ(report["runs"][1]["status"], "done");
  EXPECT_TRUE(report["settings"][1]["final_top1"]["mean"].is_number());
  auto config = nlohmann::json::parse(read_file(out + "/runs/mobilenetv3_small_100-dybat-d1-s0/config.json"));
  EXPECT_EQ(config["device"], "cpu");
  std::filesystem::remove_all(root);
}

TEST(SweepTool, MpiRanksTakeTheirShare) {
  const std::string root = dybat::test::temp_dir("sweep_ranks"), out = root + "/sweep";
  // Cells in grid order: mobilenet d1, mobilenet d0.5, resnet18 d1, resnet18 d0.5.
  const std::string grid = "--nets mobilenetv3_small_100,resnet18 --delta 1,0.5 --dry-run" + kTiny + " --out " + out;
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  ::setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  RunResult r = run_tool("sweep", grid);
  ::setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  RunResult bad = run_tool("sweep", grid);
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::unsetenv("OMPI_COMM_WORLD_RANK");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Rank 1 of 2 takes the cells i with i % 2 == 1.
  EXPECT_EQ(count(r.output, " --out "), 2u) << r.output;
  EXPECT_TRUE(contains(r.output, "--out " + out + "/runs/mobilenetv3_small_100-dybat-d0.5-s0")) << r.output;
  EXPECT_TRUE(contains(r.output, "--out " + out + "/runs/resnet18-dybat-d0.5-s0")) << r.output;
  EXPECT_FALSE(contains(r.output, "-d1-s0")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));  // a dry run writes nothing
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(contains(bad.output, "OMPI_COMM_WORLD_RANK=2 is not below OMPI_COMM_WORLD_SIZE=2")) << bad.output;
  std::filesystem::remove_all(root);
}
