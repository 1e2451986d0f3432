// tools/gpu-check on the CPU: its plan fits the GPU machine's limits (each tier one command with
// margin, the first with 30%, the tiers meant for one started machine within its device time,
// the start included) and names every CUDA test suite; the dry run (each tier's commands with CPU twins for
// the CUDA steps) passes and writes each tier's files; a sanitizer that refuses the device is a
// SKIP with its reason; a fault in a suite names its test, and the tests after it still run.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <fnmatch.h>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "support/run_util.h"

using namespace dybat::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A path in single quotes, for the shell.
std::string shell_quoted(const std::string& path) {
  std::string q = "'";
  q += path;
  q += "'";
  return q;
}

std::string gpu_check() { return shell_quoted(source_dir() + "/tools/gpu-check"); }

// The environment of a dry run: this build, a fresh OUT folder and scratch folder.
struct DryRun {
  fs::path dir;
  explicit DryRun(const std::string& name) {
    dir = fs::temp_directory_path() / ("dybat_gpu_check_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "tmp");
  }
  ~DryRun() { fs::remove_all(dir); }
  RunResult run(const std::string& args, const std::string& env = "") const {
    return run_shell("OUT=" + shell_quoted((dir / "out").string()) + " TMPDIR=" + shell_quoted((dir / "tmp").string()) +
                     " DYBAT_BUILD=" + shell_quoted(binary_dir()) + " DYBAT_BINARY_DIR=" + shell_quoted(binary_dir()) + " " + env +
                     " " + gpu_check() + " --dry-run " + args);
  }
  // A script in the folder, made executable.
  std::string script(const std::string& name, const std::string& text) const {
    fs::path p = dir / name;
    std::ofstream(p) << text;
    fs::permissions(p, fs::perms::owner_all);
    return p.string();
  }
  // The steps the tier recorded in results.jsonl, by name.
  std::map<std::string, json> results(const std::string& tier) const {
    std::map<std::string, json> out;
    std::ifstream f(dir / "out" / tier / "results.jsonl");
    for (std::string line; std::getline(f, line);) {
      json j = json::parse(line);
      out[j["step"].get<std::string>()] = j;
    }
    return out;
  }
  std::string file(const std::string& tier, const std::string& name) const {
    std::ifstream f(dir / "out" / tier / name);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
};

json plan() {
  RunResult r = run_shell(gpu_check() + " plan");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return json::parse(r.output);
}

// Every test name of this build's binary (listed once).
const std::vector<std::string>& all_tests() {
  static const std::vector<std::string> names = [] {
    RunResult r = run_shell(shell_quoted(binary_dir() + "/tests/dybat_tests") + " --gtest_list_tests");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::vector<std::string> out;
    std::string suite;
    std::istringstream in(r.output);
    for (std::string l; std::getline(in, l);) {
      if (l.empty()) continue;
      if (l[0] != ' ') {
        suite = l.substr(0, l.find(' '));
      } else {
        std::string t = l.substr(2);
        out.push_back(suite + t.substr(0, t.find(' ')));
      }
    }
    return out;
  }();
  return names;
}

// The tests a --gtest_filter selects: POSITIVE[:POSITIVE...][-NEGATIVE[:NEGATIVE...]], '*' and
// '?' wildcards, as GoogleTest reads it.
std::vector<std::string> listed(const std::string& filter) {
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string p; std::getline(in, p, ':');)
      if (!p.empty()) out.push_back(p);
    return out;
  };
  const size_t dash = filter.find('-');
  const std::vector<std::string> pos = split(filter.substr(0, dash)),
                                 neg = dash == std::string::npos ? std::vector<std::string>{} : split(filter.substr(dash + 1));
  auto any = [](const std::vector<std::string>& ps, const std::string& t) {
    for (const std::string& p : ps)
      if (fnmatch(p.c_str(), t.c_str(), 0) == 0) return true;
    return false;
  };
  std::vector<std::string> out;
  for (const std::string& t : all_tests())
    if (any(pos, t) && !any(neg, t)) out.push_back(t);
  return out;
}

}  // namespace

TEST(GpuCheck, ThePlanFitsTheGpuMachinesLimits) {
  json p = plan();
  const int command = p["command_limit_s"], budget = p["device_budget_s"], start = p["machine_start_s"];
  EXPECT_EQ(command, 600);
  EXPECT_EQ(budget, 900);
  EXPECT_LE(p["first_tier_limit_s"].get<int>(), command * 7 / 10);  // 30% margin
  EXPECT_LE(p["tier_limit_s"].get<int>(), command * 9 / 10);        // 10% margin
  std::vector<std::string> names;
  std::map<std::string, int> limit;
  for (const json& t : p["tiers"]) {
    const std::string name = t["name"];
    names.push_back(name);
    int sum = 0;
    std::set<std::string> steps;
    for (const json& s : t["steps"]) {
      EXPECT_GT(s["limit_s"].get<int>(), 0) << s["name"];
      EXPECT_TRUE(steps.insert(s["name"].get<std::string>()).second) << "two steps named " << s["name"];
      sum += s["limit_s"].get<int>();
      // A CUDA command has a CPU twin that runs on the CPU.
      const std::string gpu = s["gpu"].dump();
      if (gpu.find("\"cuda\"") != std::string::npos) {
        ASSERT_FALSE(s["cpu"].is_null()) << s["name"];
        EXPECT_EQ(s["cpu"].dump().find("\"cuda\""), std::string::npos) << s["name"];
      }
    }
    EXPECT_EQ(t["limit_s"].get<int>(), sum) << name;
    EXPECT_LE(sum, p["tier_limit_s"].get<int>()) << name;
    limit[name] = sum;
    EXPECT_EQ(t["writes"], json({name + "/summary.txt", name + "/results.jsonl", name + "/log.txt"})) << name;
    EXPECT_EQ(t["order"].get<size_t>(), names.size());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"quick", "sanitize", "bench", "train"}));  // by value
  EXPECT_LE(limit["quick"], p["first_tier_limit_s"].get<int>());
  std::printf("tiers: quick %d s, sanitize %d s, bench %d s, train %d s\n", limit["quick"], limit["sanitize"],
              limit["bench"], limit["train"]);
  // Each tier in one group; a group's tiers and the machine's start fit the device time.
  std::multiset<std::string> seen;
  for (const json& group : p["machine_groups"]) {
    int sum = start;
    for (const json& t : group) {
      seen.insert(t.get<std::string>());
      sum += limit.at(t.get<std::string>());
    }
    EXPECT_LE(sum, budget) << group.dump();
  }
  EXPECT_EQ(seen, std::multiset<std::string>(names.begin(), names.end()));
  // docs/gpu.md's table of the tiers states these limits.
  std::ifstream doc(source_dir() + "/docs/gpu.md");
  std::stringstream text;
  text << doc.rdbuf();
  for (const auto& [tier, s] : limit) {
    const std::string row = "| `" + tier + "` |";
    const size_t at = text.str().find(row);
    ASSERT_NE(at, std::string::npos) << "docs/gpu.md lacks the row of " << tier;
    const std::string line = text.str().substr(at, text.str().find('\n', at) - at);
    EXPECT_NE(line.find("| " + std::to_string(s) + " s |"), std::string::npos) << line;
  }
}

TEST(GpuCheck, TheFirstTierRunsEveryCudaTestAndTheMainCommand) {
  json quick = plan()["tiers"][0];
  std::vector<std::string> patterns;
  bool train = false;
  std::string catch_all;
  for (const json& s : quick["steps"]) {
    if (s["kind"] == "suite") {
      std::string f = s["gpu"][1].get<std::string>().substr(std::string("--gtest_filter=").size());
      if (s["name"] == "CudaOther")
        catch_all = f;
      else
        patterns.push_back(f);
    }
    train |= s["kind"] == "command" && s["gpu"][0] == "{bin}/train";
  }
  EXPECT_TRUE(train);
  const std::vector<std::string> cuda = listed("Cuda*.*:*/Cuda*.*");  // suites named Cuda*
  ASSERT_GT(cuda.size(), 40u);
  for (const std::string& t : cuda) {
    int matches = 0;
    for (const std::string& p : patterns) matches += fnmatch(p.c_str(), t.c_str(), 0) == 0;
    EXPECT_EQ(matches, 1) << t << ": every CUDA test in exactly one suite step";
  }
  EXPECT_TRUE(listed(catch_all).empty()) << "a CUDA suite the plan does not name";
}

TEST(GpuCheck, TheSanitizerTierProbesFirstAndCoversOwnKernels) {
  json tier = plan()["tiers"][1];
  std::vector<std::string> order;
  for (const json& s : tier["steps"]) order.push_back(s["name"]);
  EXPECT_EQ(order, (std::vector<std::string>{"libraries", "sanitizer-probe", "memcheck", "racecheck", "synccheck"}));
  EXPECT_EQ(tier["steps"][2]["env"]["DYBAT_CUDA_ALLOC_EXACT"], "1");
  EXPECT_EQ(listed("CudaSanitizerProbe.*").size(), 1u);
  // Each pattern of the own-kernel filter selects tests.
  std::string filter = tier["steps"][2]["gpu"][1].get<std::string>().substr(15);
  std::stringstream in(filter);
  for (std::string p; std::getline(in, p, ':');) EXPECT_FALSE(listed(p).empty()) << p;
}

TEST(GpuCheck, TheDryRunPassesAndEveryTierWritesItsFiles) {
  // Every tier with CPU twins: a few seconds per tier (the twins train and time tiny nets).
  DryRun d("all");
  RunResult r = d.run("");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const bool has_data = fs::exists(shared_dir() + "/data/cifar10-jpg.tar.gz");
  const json p = plan();  // kept: a range-for over plan()["tiers"] would read a destroyed temporary
  for (const json& t : p["tiers"]) {
    const std::string tier = t["name"];
    std::map<std::string, json> res = d.results(tier);
    EXPECT_EQ(res.size(), t["steps"].size()) << tier;
    for (const json& s : t["steps"]) {
      const std::string name = s["name"];
      ASSERT_TRUE(res.count(name)) << tier << "/" << name;
      const std::string status = res[name]["status"];
      const bool may_skip = s["kind"] == "torch" || (!has_data && tier == "train");
      EXPECT_TRUE(status == "PASS" || (may_skip && status == "SKIP")) << name << ": " << res[name].dump();
    }
    EXPECT_NE(d.file(tier, "summary.txt").find("gpu-check " + tier + " summary"), std::string::npos);
    EXPECT_NE(d.file(tier, "log.txt").find("==== libraries"), std::string::npos);
  }
}

TEST(GpuCheck, ASanitizerThatRefusesTheDeviceIsASkipWithItsReason) {
  DryRun d("refuse");
  std::string fake = d.script("refusing-sanitizer", "#!/bin/sh\n"
                                                    "echo '========= COMPUTE-SANITIZER'\n"
                                                    "echo '========= Error: Device not supported'\n"
                                                    "echo 'CUDA error 999 (unknown error) at the first allocation'\n"
                                                    "exit 1\n");
  RunResult r = d.run("sanitize", "DYBAT_COMPUTE_SANITIZER=" + shell_quoted(fake));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, json> res = d.results("sanitize");
  for (const char* step : {"sanitizer-probe", "memcheck", "racecheck", "synccheck"}) {
    EXPECT_EQ(res[step]["status"], "SKIP") << res[step].dump();
    EXPECT_NE(res[step]["detail"].get<std::string>().find("Device not supported"), std::string::npos)
        << res[step].dump();
  }
}

TEST(GpuCheck, SanitizerErrorsFailTheirStepAndMemcheckGetsExactAllocations) {
  DryRun d("errors");
  // Runs the program; racecheck then reports two errors, as compute-sanitizer does.
  std::string fake = d.script("sanitizer", "#!/bin/sh\n"
                                           "tool=\n"
                                           "while [ $# -gt 0 ]; do case \"$1\" in\n"
                                           "  --tool) tool=$2; shift 2;; --error-exitcode) shift 2;; *) break;; esac\n"
                                           "done\n"
                                           "echo \"tool $tool exact=$DYBAT_CUDA_ALLOC_EXACT\"\n"
                                           "\"$@\"; rc=$?\n"
                                           "if [ \"$tool\" = racecheck ]; then echo '========= ERROR SUMMARY: 2 errors';"
                                           " exit 3; fi\n"
                                           "echo '========= ERROR SUMMARY: 0 errors'; exit $rc\n");
  RunResult r = d.run("sanitize", "DYBAT_COMPUTE_SANITIZER=" + shell_quoted(fake));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::map<std::string, json> res = d.results("sanitize");
  EXPECT_EQ(res["sanitizer-probe"]["status"], "PASS") << res["sanitizer-probe"].dump();
  EXPECT_EQ(res["memcheck"]["status"], "PASS") << res["memcheck"].dump();
  EXPECT_EQ(res["racecheck"]["status"], "FAIL") << res["racecheck"].dump();
  EXPECT_NE(res["racecheck"]["detail"].get<std::string>().find("2 sanitizer errors"), std::string::npos);
  EXPECT_EQ(res["synccheck"]["status"], "PASS");
  const std::string log = d.file("sanitize", "log.txt");
  EXPECT_NE(log.find("tool memcheck exact=1"), std::string::npos) << log;
  EXPECT_NE(log.find("tool racecheck exact=\n"), std::string::npos) << log;
}

TEST(GpuCheck, AFaultIsNamedAndHidesNoOtherTest) {
  // A stand-in for the test binary: CudaParity.B fails and poisons its process (every later test
  // there fails too), CudaGraph.X crashes it; every other suite has one passing test.
  DryRun d("fault");
  std::string fake = d.script("tests", R"PY(#!/usr/bin/env python3
import fnmatch, os, sys
tests = ["CudaParity.A", "CudaParity.B", "CudaParity.C", "CudaParity.D", "CudaGraph.X", "CudaGraph.Y"]
f = next(a for a in sys.argv if a.startswith("--gtest_filter=")).split("=", 1)[1]
pos, _, neg = f.partition("-")
pos, neg = pos.split(":"), [n for n in neg.split(":") if n]
sel = [t for t in tests if any(fnmatch.fnmatch(t, p) for p in pos) and not any(fnmatch.fnmatch(t, n) for n in neg)]
base = pos[0].strip("*")
if not sel and base.endswith(".") and not base.startswith(("CudaParity", "CudaGraph")):
    sel = [base + "Ok"]
print("[==========] Running %d tests from 1 test suite." % len(sel), flush=True)
poisoned, failed = False, []
for t in sel:
    print("[ RUN      ] " + t, flush=True)
    if t == "CudaGraph.X":
        os.abort()
    if poisoned or t == "CudaParity.B":
        failed.append(t)
        print("[  FAILED  ] %s (1 ms)" % t)
    else:
        print("[       OK ] %s (1 ms)" % t)
    poisoned |= t == "CudaParity.B"
print("[==========] %d tests from 1 test suite ran. (5 ms total)" % len(sel))
print("[  PASSED  ] %d tests." % (len(sel) - len(failed)))
for t in failed:
    print("[  FAILED  ] " + t)
sys.exit(1 if failed else 0)
)PY");
  RunResult r = d.run("quick", "DYBAT_GPU_CHECK_TESTS=" + shell_quoted(fake));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::map<std::string, json> res = d.results("quick");
  const std::string parity = res["CudaParity"]["detail"], graph = res["CudaGraph"]["detail"];
  EXPECT_EQ(res["CudaParity"]["status"], "FAIL");
  EXPECT_NE(parity.find("at fault: CudaParity.B (failed)"), std::string::npos) << parity;
  EXPECT_NE(parity.find("2 failed only after a fault in their process (pass alone): CudaParity.C, CudaParity.D"),
            std::string::npos)
      << parity;
  EXPECT_EQ(res["CudaGraph"]["status"], "FAIL");
  EXPECT_NE(graph.find("1 passed"), std::string::npos) << graph;  // Y ran after X's crash
  EXPECT_NE(graph.find("at fault: CudaGraph.X (crashed)"), std::string::npos) << graph;
  EXPECT_EQ(res["CudaTrainer"]["status"], "PASS") << res["CudaTrainer"].dump();
  EXPECT_EQ(res["CudaOther"]["status"], "PASS");
  EXPECT_EQ(res["train-synthetic"]["status"], "PASS") << res["train-synthetic"].dump();
}
