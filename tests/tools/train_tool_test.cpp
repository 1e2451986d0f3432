// The train, eval and plot programs end to end: exit codes for bad input, a short run on the
// synthetic set, resume (identical trace, settings enforced), eval of the saved model, and a PNG
// from run folders.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "support/paths.h"
#include "support/test_util.h"
#include "support/run_util.h"
#include "support/train_util.h"
#include "train/files.h"
#include "train/run_log.h"

namespace {

using dybat::test::run_tool;
using dybat::test::RunResult;

// Runs a shell command that is not one of the built programs (the Python plot script).
RunResult sh(const std::string& cmd) {
  std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  RunResult r;
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

// Arguments of a quick run: MobileNetV3-Small on 128 synthetic images at 32 px, batch 16
// (8 batches), on the CPU.
std::string quick(const std::string& out, int epochs) {
  return "--net mobilenetv3_small_100 --dataset synthetic --device cpu --crop 32 --batch-size 16 --train-limit 128 "
         "--test-limit 32 --delta 0.5 --epochs " +
         std::to_string(epochs) + " --out " + out;
}

// `eval --run DIR` (plus `extra` options) reproduces the run's last test metrics.
void expect_eval_gives_the_last_metrics(const std::string& dir, const std::string& extra) {
  RunResult ev = run_tool("eval", "--run " + dir + extra + " --json");
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  auto j = nlohmann::json::parse(last_line(ev.output));
  auto last = nlohmann::json::parse(last_line(dybat::read_file(dir + "/metrics.jsonl")));
  EXPECT_NEAR(j["test"]["top1"].get<double>(), last["test_top1"].get<double>(), 1e-9);
  EXPECT_NEAR(j["test"]["loss"].get<double>(), last["test_loss"].get<double>(), 1e-6);
}

}  // namespace

TEST(TrainTool, HelpAndBadInput) {
  RunResult help = run_tool("train", "--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--batch-size"), std::string::npos);
  std::string dir = dybat::test::temp_dir("tool_bad");
  std::string base = "--dataset synthetic --device cpu --crop 32 --train-limit 64 --test-limit 32";
  struct Case {
    std::string args, message;
  } cases[] = {
      {"--net resnet18 --delta 1.5", "--delta"},
      {"--net resnet18 -delta=0", "--delta"},
      {"--net nosuchnet", "unknown net"},
      {"--net resnet18 --batch-size 128", "larger than the"},
      {"--net resnet18 --batch-size 16 --delta 0.01", "raise --delta"},
      {"--net resnet18 --bogus-flag", "bogus"},
      {"--net resnet18 --dtype float16", "dtype"},
      {"--net resnet18 --tf32-conv maybe", "--tf32-conv"},
      {"--net resnet18 --precision bf16", "runs on CUDA only"},
  };
  for (const Case& c : cases) {
    RunResult r = run_tool("train", base + " " + c.args + " --out " + dir + "/x");
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  RunResult missing = run_tool("train", "--net resnet18 --dataset cifar10 --data " + dir + "/nothing --out " + dir + "/y");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  std::filesystem::remove_all(dir);
}

TEST(TrainTool, ShortRunResumeAndEval) {
  std::string whole = dybat::test::temp_dir("tool_whole"), cut = dybat::test::temp_dir("tool_cut");
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(cut);
  RunResult r = run_tool("train", quick(whole, 3));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("k = 4 of b = 8"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("on the CPU: about"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step 24/24"), std::string::npos) << r.output;
  auto trace = dybat::parse_trace(dybat::read_file(whole + "/trace.csv"));
  EXPECT_EQ(trace.size(), 24u);
  for (const char* f : {"config.json", "metrics.csv", "metrics.jsonl", "model.safetensors", "state.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(whole + "/" + f)) << f;
  auto config = nlohmann::json::parse(dybat::read_file(whole + "/config.json"));
  EXPECT_EQ(config["tf32_conv"], "on");
  EXPECT_EQ(config["tf32_matmul"], "off");
  EXPECT_EQ(config["resolved"]["tf32_conv"], true);

  // Two epochs, then resumed to three: the same trace as the uninterrupted run.
  ASSERT_EQ(run_tool("train", quick(cut, 2)).exit_code, 0);
  RunResult bad = run_tool("train", "--resume " + cut + " --lr 0.1");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--lr"), std::string::npos) << bad.output;
  RunResult lower = run_tool("train", "--resume " + cut + " --epochs 1");
  EXPECT_EQ(lower.exit_code, 2) << lower.output;
  RunResult resumed = run_tool("train", "--resume " + cut + " --epochs 3");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed at step 16"), std::string::npos) << resumed.output;
  EXPECT_EQ(dybat::read_file(cut + "/trace.csv"), dybat::read_file(whole + "/trace.csv"));
  EXPECT_EQ(dybat::read_file(cut + "/model.safetensors"), dybat::read_file(whole + "/model.safetensors"));

  // eval of the saved model gives the run's last test metrics.
  expect_eval_gives_the_last_metrics(whole, "");
  EXPECT_EQ(run_tool("eval", "--weights " + whole + "/nothing.safetensors --net resnet18 --dataset synthetic").exit_code,
            2);
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(cut);
}

TEST(TrainTool, EvalOfARunUsesItsDataSettings) {
  // A run whose splits were permuted: eval --run must load the same (permuted) test split, so it
  // reproduces the run's last test metrics.
  std::string dir = dybat::test::temp_dir("tool_permuted");
  std::filesystem::remove_all(dir);
  RunResult r = run_tool("train", quick(dir, 1) + " --permute --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_eval_gives_the_last_metrics(dir, " --device cpu");
  std::filesystem::remove_all(dir);
}

TEST(TrainTool, InjectedCheckpointFaultKeepsTheLastGoodCheckpoint) {
  std::string dir = dybat::test::temp_dir("tool_fault");
  std::filesystem::remove_all(dir);
  // The second write of state.safetensors (the checkpoint at step 16) fails.
  ::setenv("DYBAT_FAULT_WRITE", "state.safetensors:2", 1);
  RunResult r = run_tool("train", quick(dir, 3));
  ::unsetenv("DYBAT_FAULT_WRITE");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("injected fault"), std::string::npos) << r.output;
  RunResult resumed = run_tool("train", "--resume " + dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed at step 8"), std::string::npos) << resumed.output;
  EXPECT_EQ(dybat::parse_trace(dybat::read_file(dir + "/trace.csv")).size(), 24u);
  std::filesystem::remove_all(dir);
}

TEST(TrainTool, PlotWritesAPng) {
  if (sh("/usr/bin/python3 -c 'import matplotlib'").exit_code != 0)
    GTEST_SKIP() << "python3-matplotlib is not installed";
  std::string dir = dybat::test::temp_dir("tool_plot");
  for (const char* delta : {"1", "0.5"}) {
    std::string run = dir + "/d" + delta;
    dybat::RunLog log(run);
    log.start(nlohmann::json{{"delta", std::stod(delta)}, {"net", "resnet18"}, {"crop", 32}});
    for (int64_t e = 1; e <= 3; ++e) {
      dybat::MetricsRow row;
      row.step = e * 10;
      row.epoch = static_cast<double>(e);
      row.train.loss = 2.0 / static_cast<double>(e);
      row.test.top1 = 20.0 * static_cast<double>(e);
      log.append_metrics(row);
    }
  }
  std::string png = dir + "/curves.png";
  RunResult r = sh("/usr/bin/python3 " + dybat::test::source_dir() + "/tools/plot " + dir + "/d1 " + dir + "/d0.5 -o " + png);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string bytes = dybat::read_file(png);
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  RunResult bad = sh("/usr/bin/python3 " + dybat::test::source_dir() + "/tools/plot " + dir + "/none");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  std::filesystem::remove_all(dir);
}
