// tools/bench: the benchmark library (timing helpers, JSON, PyTorch matching) and the program end
// to end. No timing assertions: only that the fields are there and consistent.
#include "tools/lib/bench.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "kernels/cpu_threads.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "kernels/sgd.h"
#include "nets/registry.h"
#include "nets/summary.h"
#include "support/run_util.h"

using namespace dybat;
using namespace dybat::test;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("dybat_bench_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

BenchRequest tiny() {
  BenchRequest r;
  r.net = "mobilenetv3_small_100";
  r.crop = 32;
  r.batch = 2;
  r.steps = 2;
  r.warmup = 2;
  return r;
}

}  // namespace

TEST(Bench, MedianIsTheUpperMiddleElement) {
  EXPECT_EQ(median_ms({}), 0.0);
  EXPECT_EQ(median_ms({3.0}), 3.0);
  EXPECT_EQ(median_ms({5.0, 1.0}), 5.0);  // sorted [1, 5], element 1
  EXPECT_EQ(median_ms({4.0, 1.0, 9.0}), 4.0);
  EXPECT_EQ(median_ms({4.0, 1.0, 9.0, 2.0}), 4.0);
}

TEST(Bench, TimeCallsRunsWarmupThenTimedSteps) {
  int calls = 0;
  auto ms = time_calls([&] { ++calls; }, 3, 2, Device::cpu());
  EXPECT_EQ(calls, 5);
  ASSERT_EQ(ms.size(), 3u);
  for (double t : ms) EXPECT_GE(t, 0.0);
}

TEST(Bench, TinyNetStepReportsEveryField) {
  const int threads_before = cpu_threads();
  BenchRequest r = tiny();
  r.threads = 1;
  BenchReport rep = run_bench(r);
  EXPECT_EQ(cpu_threads(), 1);
  set_cpu_threads(threads_before);
  ASSERT_EQ(rep.rows.size(), 1u);
  nlohmann::json j = bench_json(rep);
  EXPECT_EQ(j["kind"], "net");
  EXPECT_EQ(j["net"], "mobilenetv3_small_100");
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["precision"], "float32");
  EXPECT_EQ(j["cuda_graph"], false);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["crop"], 32);
  EXPECT_EQ(j["batch"], 2);
  EXPECT_EQ(j["steps"], 2);
  EXPECT_EQ(j["warmup"], 2);
  ASSERT_EQ(j["step_ms"].size(), 2u);
  double ms = j["ms_per_step"].get<double>();
  EXPECT_GT(ms, 0.0);
  EXPECT_DOUBLE_EQ(ms, median_ms(j["step_ms"].get<std::vector<double>>()));
  EXPECT_DOUBLE_EQ(j["img_per_s"].get<double>(), 2 * 1000.0 / ms);
  EXPECT_GT(j["peak_bytes"].get<size_t>(), 0u);
  EXPECT_GT(j["first_step_ms"].get<double>(), 0.0);
  EXPECT_GE(j["cpu_ms_per_step"].get<double>(), 0.0);
  EXPECT_GT(j["allocs_per_step"].get<double>(), 0.0);
  // After two warm-up steps (the first fills the cache; in the second the previous step's gradients
  // are alive during the forward) the caching allocator serves every allocation of a step.
  EXPECT_EQ(j["system_allocs_per_step"].get<double>(), 0.0);
  EXPECT_FALSE(j.contains("ratio"));
  // 3 x the forward FLOPs of tools/summary, per image, times the batch.
  const double gflop = 3.0 * 2 * summarize_net("mobilenetv3_small_100", 32, 10).gflops;
  EXPECT_NEAR(j["step_gflop"].get<double>(), gflop, 1e-9 * gflop);
  EXPECT_NEAR(j["tflop_per_s"].get<double>(), gflop / ms, 1e-9 * gflop / ms);
  std::string table = bench_table(rep);
  EXPECT_NE(table.find("mobilenetv3_small_100"), std::string::npos) << table;
}

TEST(Bench, MatchesThePyTorchRecordOfTheSameConfiguration) {
  BenchReport rep;
  rep.request = tiny();
  BenchRow row;
  row.name = "mobilenetv3_small_100";
  row.step_ms = {30.0, 20.0, 40.0};
  row.ms = 30.0;
  rep.rows.push_back(row);
  // torch_cpu_step.py writes one object.
  nlohmann::json cpu_step = {{"net", "mobilenetv3_small_100"}, {"crop", 32}, {"batch", 2}, {"threads", 2},
                             {"ms_per_step", 20.0}, {"img_per_s", 100.0}};
  nlohmann::json j = bench_json(rep, &cpu_step);
  ASSERT_TRUE(j.contains("ratio"));
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(), 1.5);
  EXPECT_NE(bench_table(rep, &cpu_step).find("1.50"), std::string::npos);
  // torch_baseline.py writes a list; the fp32 row of the same net, crop and batch is the match.
  nlohmann::json baseline = nlohmann::json::array(
      {{{"net", "mobilenetv3_small_100"}, {"crop", 32}, {"batch", 2}, {"mode", "bf16"}, {"ms_per_step", 5.0}},
       {{"net", "resnet18"}, {"crop", 32}, {"batch", 2}, {"mode", "fp32"}, {"ms_per_step", 7.0}},
       {{"net", "mobilenetv3_small_100"}, {"crop", 32}, {"batch", 2}, {"mode", "fp32"}, {"ms_per_step", 60.0}}});
  EXPECT_DOUBLE_EQ(bench_json(rep, &baseline)["ratio"].get<double>(), 0.5);
  EXPECT_FALSE(bench_json(rep, &baseline).contains("ratio_graph"));  // no graph row in this record
  // A float32 run is also set against PyTorch's CUDA-graph row; a bf16 run against its bf16 row.
  baseline.push_back({{"net", "mobilenetv3_small_100"}, {"crop", 32}, {"batch", 2}, {"mode", "graph"},
                      {"ms_per_step", 40.0}});
  nlohmann::json jg = bench_json(rep, &baseline);
  EXPECT_DOUBLE_EQ(jg["ratio"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(jg["ratio_graph"].get<double>(), 0.75);
  BenchReport bf = rep;
  bf.request.compute = DType::BFloat16;
  nlohmann::json jb = bench_json(bf, &baseline);
  EXPECT_EQ(jb["precision"], "bf16");
  EXPECT_DOUBLE_EQ(jb["ratio"].get<double>(), 6.0);
  EXPECT_FALSE(jb.contains("ratio_graph"));
  // A record of another crop does not match: no ratio, and the table says so.
  nlohmann::json other = cpu_step;
  other["crop"] = 128;
  EXPECT_FALSE(bench_json(rep, &other).contains("ratio"));
  EXPECT_NE(bench_table(rep, &other).find("no row of the PyTorch record matches"), std::string::npos);
}

TEST(Bench, RejectsBadRequests) {
  BenchRequest r = tiny();
  r.net = "resnet34";
  EXPECT_THROW(run_bench(r), Error);
  r = tiny();
  r.op = "conv2d";  // both a net and an op
  EXPECT_THROW(run_bench(r), Error);
  r = tiny();
  r.steps = 0;
  EXPECT_THROW(run_bench(r), Error);
  r = tiny();
  r.net.clear();
  r.op = "matmul";
  EXPECT_THROW(run_bench(r), Error);
  r = tiny();
  r.compute = DType::BFloat16;  // mixed precision is for CUDA
  EXPECT_THROW(run_bench(r), Error);
}

TEST(Bench, TheStepAGraphWouldCaptureIsCaptureSafe) {
  // The CPU runs the benchmark step under the capture audit after its warm-up: no host reads, no
  // syncs or copies, no new memory from the system (what a CUDA graph of the step needs).
  BenchRequest r = tiny();
  r.audit = true;
  r.warmup = 1;  // raised to 3: the audit starts with the third call
  BenchReport rep = run_bench(r);
  EXPECT_EQ(rep.request.warmup, 3);
  EXPECT_FALSE(rep.graphed);
  ASSERT_EQ(rep.rows.size(), 1u);
  EXPECT_EQ(rep.rows[0].step_ms.size(), 2u);
  EXPECT_EQ(rep.system_allocs_per_step, 0.0);
}

TEST(Bench, ProgramWritesJsonAndComparesWithPyTorch) {
  TempDir tmp;
  const std::string torch = tmp.file("torch.json"), out = tmp.file("out.json");
  {
    std::ofstream f(torch);
    f << R"({"net": "mobilenetv3_small_100", "crop": 32, "batch": 2, "threads": 2, "ms_per_step": 1000.0})";
  }
  auto r = run_tool("bench", "--net mobilenetv3_small --crop 32 --batch-size 2 --steps 2 --warmup 1 --threads 2 "
                             "--json '" + out + "' --torch-json '" + torch + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ratio"), std::string::npos) << r.output;
  auto j = read_json_file(out);
  EXPECT_EQ(j["net"], "mobilenetv3_small_100");
  EXPECT_EQ(j["threads"], 2);
  EXPECT_EQ(j["torch"]["ms_per_step"], 1000.0);
  EXPECT_NEAR(j["ratio"].get<double>(), j["ms_per_step"].get<double>() / 1000.0, 1e-12);

  r = run_tool("bench", "--op conv2d --crop 8 --batch-size 1 --steps 1 --warmup 0 --threads 1 --json '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = read_json_file(out);
  EXPECT_EQ(j["kind"], "op");
  EXPECT_EQ(j["op"], "conv2d");
  ASSERT_EQ(j["rows"].size(), 11u);
  EXPECT_EQ(j["rows"][0]["name"], "conv1");
  EXPECT_EQ(j["rows"][0]["shape"], "x [1, 3, 8, 8] w [64, 3, 7, 7] s2");
  for (auto& row : j["rows"]) EXPECT_GT(row["gflop"].get<double>(), 0.0) << row;

  r = run_tool("bench", "--net resnet18 --crop 32 --batch-size 0 --steps 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--batch-size"), std::string::npos) << r.output;
  r = run_tool("bench", "--crop 32");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--net"), std::string::npos) << r.output;
  r = run_tool("bench", "--net resnet18 --precision bf16 --steps 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("CUDA only"), std::string::npos) << r.output;
  r = run_tool("bench", "--net resnet18 --precision float16");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--precision"), std::string::npos) << r.output;
  r = run_tool("bench", "--net resnet18 --torch-json /nonexistent/t.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--torch-json"), std::string::npos) << r.output;
}

TEST(Bench, TrainingStepsAreBitIdenticalRunToRun) {
  // The whole CPU training step (the bench's step) is deterministic for a given thread count:
  // two fresh runs of three steps end with bit-identical parameters and BN buffers.
  for (const char* name : {"mobilenetv3_small_100", "resnet18"}) {
    SCOPED_TRACE(name);
    auto run = [&] {
      Generator g(7);
      auto net = create_net(name, 10, g);
      net->train();
      Tensor x = Tensor::normal({4, 3, 32, 32}, 0.0, 1.0, g);
      Tensor y = Tensor::from_vector<int64_t>({1, 5, 9, 0}, {4});
      std::vector<Tensor> params = net->parameters(), bufs;
      for (auto& p : params) bufs.push_back(Tensor::zeros(p.shape()));
      for (int step = 0; step < 3; ++step) {
        Tensor loss = mean(cross_entropy(net->forward(x), y));
        net->zero_grad();
        loss.backward();
        std::vector<Tensor> grads;
        for (auto& p : params) grads.push_back(p.grad());
        sgd_update(params, grads, bufs, SgdOptions{});
      }
      std::vector<std::vector<float>> state;
      for (auto& [key, t] : net->state_dict())
        if (t.dtype() == DType::Float32) state.push_back(t.to_vector<float>());
      return state;
    };
    auto a = run(), b = run();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)), 0) << "tensor " << i;
  }
}
