// The train, eval and plot programs end to end: exit codes for bad input, a short run on the
// synthetic set, resume (identical trace, settings enforced), eval of the saved model, and a PNG
// from run folders.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/test_util.h"
#include "tests/train/train_test_util.h"
#include "train/files.h"
#include "train/run_log.h"

namespace {

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

// Runs a command line through the shell, capturing its output and exit code.
Result sh(const std::string& cmd) {
  std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

std::string program(const char* name) {
  std::string p = std::string(DYBAT_BINARY_DIR) + "/" + name;
  EXPECT_TRUE(std::filesystem::exists(p)) << p << " is not built (build the whole project first)";
  return p;
}

// A quick run: MobileNetV3-Small on 128 synthetic images at 32 px, batch 16 (8 batches), on the CPU.
std::string quick(const std::string& out, int epochs, const std::string& extra = "") {
  return program("train") + " --net mobilenetv3_small_100 --dataset synthetic --device cpu --crop 32 --batch-size 16 " +
         "--train-limit 128 --test-limit 32 --delta 0.5 --epochs " + std::to_string(epochs) + " --out " + out + " " +
         extra;
}

}  // namespace

TEST(TrainTool, HelpAndBadInput) {
  Result help = sh(program("train") + " --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--batch-size"), std::string::npos);
  std::string dir = dybat::test::temp_dir("tool_bad");
  std::string base = program("train") + " --dataset synthetic --device cpu --crop 32 --train-limit 64 --test-limit 32";
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
  };
  for (const Case& c : cases) {
    Result r = sh(base + " " + c.args + " --out " + dir + "/x");
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << "\n" << r.out;
  }
  Result missing = sh(program("train") + " --net resnet18 --dataset cifar10 --data " + dir + "/nothing --out " + dir +
                      "/y");
  EXPECT_EQ(missing.code, 2) << missing.out;
  std::filesystem::remove_all(dir);
}

TEST(TrainTool, ShortRunResumeAndEval) {
  std::string whole = dybat::test::temp_dir("tool_whole"), cut = dybat::test::temp_dir("tool_cut");
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(cut);
  Result r = sh(quick(whole, 3));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("k = 4 of b = 8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on the CPU: about"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 24/24"), std::string::npos) << r.out;
  auto trace = dybat::parse_trace(dybat::read_file(whole + "/trace.csv"));
  EXPECT_EQ(trace.size(), 24u);
  for (const char* f : {"config.json", "metrics.csv", "metrics.jsonl", "model.safetensors", "state.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(whole + "/" + f)) << f;

  // Two epochs, then resumed to three: the same trace as the uninterrupted run.
  ASSERT_EQ(sh(quick(cut, 2)).code, 0);
  Result bad = sh(program("train") + " --resume " + cut + " --lr 0.1");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--lr"), std::string::npos) << bad.out;
  Result lower = sh(program("train") + " --resume " + cut + " --epochs 1");
  EXPECT_EQ(lower.code, 2) << lower.out;
  Result resumed = sh(program("train") + " --resume " + cut + " --epochs 3");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resumed at step 16"), std::string::npos) << resumed.out;
  EXPECT_EQ(dybat::read_file(cut + "/trace.csv"), dybat::read_file(whole + "/trace.csv"));
  EXPECT_EQ(dybat::read_file(cut + "/model.safetensors"), dybat::read_file(whole + "/model.safetensors"));

  // eval of the saved model gives the run's last test metrics.
  Result ev = sh(program("eval") + " --run " + whole + " --json");
  ASSERT_EQ(ev.code, 0) << ev.out;
  auto j = nlohmann::json::parse(last_line(ev.out));
  auto last = nlohmann::json::parse(last_line(dybat::read_file(whole + "/metrics.jsonl")));
  EXPECT_NEAR(j["test"]["top1"].get<double>(), last["test_top1"].get<double>(), 1e-9);
  EXPECT_NEAR(j["test"]["loss"].get<double>(), last["test_loss"].get<double>(), 1e-6);
  EXPECT_EQ(sh(program("eval") + " --weights " + whole + "/nothing.safetensors --net resnet18 --dataset synthetic")
                .code,
            2);
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(cut);
}

TEST(TrainTool, InjectedCheckpointFaultKeepsTheLastGoodCheckpoint) {
  std::string dir = dybat::test::temp_dir("tool_fault");
  std::filesystem::remove_all(dir);
  // The second write of state.safetensors (the checkpoint at step 16) fails.
  Result r = sh("DYBAT_FAULT_WRITE=state.safetensors:2 " + quick(dir, 3));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("injected fault"), std::string::npos) << r.out;
  Result resumed = sh(program("train") + " --resume " + dir);
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resumed at step 8"), std::string::npos) << resumed.out;
  EXPECT_EQ(dybat::parse_trace(dybat::read_file(dir + "/trace.csv")).size(), 24u);
  std::filesystem::remove_all(dir);
}

TEST(TrainTool, PlotWritesAPng) {
  if (sh("/usr/bin/python3 -c 'import matplotlib'").code != 0)
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
  Result r = sh("/usr/bin/python3 " + std::string(DYBAT_SOURCE_DIR) + "/tools/plot " + dir + "/d1 " + dir + "/d0.5 -o " +
                png);
  ASSERT_EQ(r.code, 0) << r.out;
  std::string bytes = dybat::read_file(png);
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  Result bad = sh("/usr/bin/python3 " + std::string(DYBAT_SOURCE_DIR) + "/tools/plot " + dir + "/none");
  EXPECT_EQ(bad.code, 2) << bad.out;
  std::filesystem::remove_all(dir);
}
