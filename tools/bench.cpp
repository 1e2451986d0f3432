// bench: times the full training step of a net as train runs it (train/step.h: forward,
// cross-entropy, zero_grad, backward of the mean, SGD with momentum) or conv2d on ResNet-18's
// shapes, prints a table and writes JSON.
//   ./tools/bench --net resnet18 --crop 32 --batch-size 32 --steps 10 [--warmup 2] [--threads 2]
//                 [--device cpu|cuda] [--precision fp32|bf16|float64] [--cuda-graph on|off]
//                 [--json out.json] [--torch-json torch.json]
//   ./tools/bench --op conv2d --crop 128 --batch-size 32 --steps 5
// --torch-json reads a record of PyTorch's comparison scripts (torch_cpu_step.py on the CPU,
// torch_baseline.py on a GPU; tools/bench-cpu and tools/gpu-check run them) made in the same
// session (same machine, same threads) and adds PyTorch's time and our/PyTorch ratio.
// On CUDA the step runs as `train` runs it: captured once in a CUDA graph and replayed (unless
// --cuda-graph off), in float32 with TF32 convolutions (PyTorch's defaults) or bf16 mixed precision.
#include "tools/lib/bench.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "tools/tool_common.h"

static int run(int argc, char** argv) {
  CLI::App app{"Time a net's training step (or conv2d on ResNet-18 shapes) on the CPU or a GPU"};
  dybat::BenchRequest r;
  std::string device = "cpu", precision = "fp32", cuda_graph = "on", json_path, torch_path;
  app.add_option("--net", r.net, "resnet18, resnet50, efficientnet_b4, efficientnetv2_s, mobilenetv3_small_100");
  app.add_option("--op", r.op, "op microbenchmark when no net is given: conv2d (ResNet-18's convolutions)");
  app.add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--precision", precision,
                 "fp32 (also float32), float64 (CPU), or bf16: mixed precision as train's (CUDA)")
      ->check(CLI::IsMember({"fp32", "float32", "float64", "bf16"}))
      ->capture_default_str();
  app.add_option("--cuda-graph", cuda_graph, "on a CUDA device, time replays of the step captured in a CUDA graph")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--crop", r.crop, "input height and width in pixels")->capture_default_str();
  app.add_option("--batch-size", r.batch, "images per step")->capture_default_str();
  app.add_option("--steps", r.steps, "timed steps (the median is reported)")->capture_default_str();
  app.add_option("--warmup", r.warmup, "untimed steps first")->capture_default_str();
  app.add_option("--threads", r.threads, "CPU threads for OpenMP and OpenBLAS (0: their defaults)")
      ->capture_default_str();
  app.add_option("--classes", r.classes, "number of classes")->capture_default_str();
  app.add_option("--json", json_path, "write the result as JSON to this file");
  app.add_option("--torch-json", torch_path, "PyTorch's record from the same run, for the ratio");
  dybat::tools::parse_command_line(app, argc, argv);
  try {
    r.device = dybat::Device::parse(device);
  } catch (const dybat::Error& e) {
    DYBAT_FAIL("--device: ", e.message());
  }
  r.dtype = precision == "float64" ? dybat::DType::Float64 : dybat::DType::Float32;
  r.compute = precision == "bf16" ? dybat::DType::BFloat16 : dybat::DType::Float32;
  r.cuda_graph = cuda_graph == "on";
  nlohmann::json torch;
  if (!torch_path.empty()) {
    std::ifstream f(torch_path);
    DYBAT_CHECK(f, "--torch-json: cannot open '", torch_path, "'");
    try {
      torch = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
      DYBAT_FAIL("--torch-json: '", torch_path, "' is not valid JSON: ", e.what());
    }
  }
  if (r.net.empty() && r.op.empty()) DYBAT_FAIL("give --net NAME (a training step) or --op conv2d");
  // The GPU's TF32 settings stay at their defaults, which are PyTorch's (TF32 in cuDNN
  // convolutions only), so float32 here is what the baseline's fp32 mode measures.
  dybat::BenchReport rep = dybat::run_bench(r);
  const nlohmann::json* tp = torch_path.empty() ? nullptr : &torch;
  std::cout << dybat::bench_table(rep, tp) << std::flush;
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    DYBAT_CHECK(out, "--json: cannot write '", json_path, "'");
    out << dybat::bench_json(rep, tp).dump(1) << "\n";
    DYBAT_CHECK(out.good(), "--json: writing '", json_path, "' failed");
  }
  return 0;
}

int main(int argc, char** argv) {
  return dybat::tools::main_guard("bench", [&] { return run(argc, argv); });
}
