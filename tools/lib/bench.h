// Benchmarks of the training step and of single ops: the library side of tools/bench (kept here
// so tests can call it without a process).
//
// A net benchmark times the whole training step exactly as `train` runs it (train/step.h, the
// paper's step, and what the PyTorch comparison scripts time): forward, cross-entropy, zero_grad,
// backward of the batch mean, SGD(lr 0.005, momentum 0.9). An op benchmark times conv2d forward, backward-input
// and backward-weight on the convolution shapes of ResNet-18 at the given crop.
// Each timed call is measured on its own: steady_clock on the CPU, a pair of CUDA events on the
// device's stream on a GPU (the host waits only once, after the last step). The reported time is
// the median of the timed steps (the upper middle element for an even count, as the PyTorch
// script), after `warmup` untimed steps. Peak memory is the allocator's peak bytes in use over the
// timed steps; allocation counts show whether the caching allocator serves a steady step alone.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"

namespace dybat {

// The median of `v` as defined above (sorted[size / 2]); 0 for an empty vector.
double median_ms(std::vector<double> v);

// Runs `fn` warmup times untimed, then `steps` times timed; returns each timed call's ms.
std::vector<double> time_calls(const std::function<void()>& fn, int steps, int warmup, Device device);

struct BenchRequest {
  std::string net;  // a net name, or empty for an op benchmark
  std::string op;   // "conv2d" when net is empty
  Device device = Device::cpu();
  DType dtype = DType::Float32;
  int crop = 32;
  int batch = 32;
  int steps = 10;
  int warmup = 2;
  int threads = 0;  // 0: leave the CPU thread pools as they are
  int classes = 10;
  uint64_t seed = 0;
  // Net benchmarks. BFloat16: mixed precision as `train --precision bf16` (bf16 convolutions and
  // matrix products, float32 weights, BatchNorm and loss; CUDA only).
  DType compute = DType::Float32;
  // On a CUDA device: capture the step once in a CUDA graph and time its replays, as `train`
  // runs (train/graphed_step.h). The timed steps then come after at least 3 untimed ones (eager,
  // warm-up in the graph's pool, capture).
  bool cuda_graph = true;
  // On the CPU: run the steps after the warm-up under the capture audit (core/capture.h), which
  // proves the step a graph would capture reads nothing on the host and allocates nothing new.
  bool audit = false;
};

// One timed configuration: the whole net step, or one convolution shape.
struct BenchRow {
  std::string name;              // net name, or the conv's place in ResNet-18 ("layer2.0.conv1")
  std::string shape;             // op rows: "x [32, 64, 8, 8] w [128, 64, 3, 3] s2"
  std::vector<double> step_ms;   // every timed step (net) or every timed fwd+bwd (op)
  double ms = 0.0;               // median ms per step
  double fwd_ms = 0.0, dx_ms = 0.0, dw_ms = 0.0;  // op rows: medians of the three parts
  double gflop = 0.0;            // op rows: forward GFLOP (backward is twice that)
};

struct BenchReport {
  BenchRequest request;
  std::string device_name;  // "cpu (2 threads, OpenBLAS ...)" or the GPU's name
  int threads = 0;          // CPU threads used
  std::vector<BenchRow> rows;
  double setup_ms = 0.0;       // building the net (or the op inputs) and the batch
  double first_step_ms = 0.0;  // the first step, warm-up or timed (net benchmarks)
  bool graphed = false;        // the timed steps were CUDA graph replays
  double step_gflop = 0.0;     // net benchmarks: 3 x the forward FLOPs (tools/summary) x batch
  size_t peak_bytes = 0;       // allocator peak over the timed steps
  double allocs_per_step = 0.0, system_allocs_per_step = 0.0;  // over the timed steps
  // Process CPU time per timed step (all threads; spin-waits included): steadier than wall time
  // on a machine shared with other work, at one thread especially.
  double cpu_ms_per_step = 0.0;
};

// Runs the benchmark the request describes; throws dybat::Error naming the flag at fault.
BenchReport run_bench(const BenchRequest& r);

// The JSON record (fields: kind, device, device_name, threads, precision, cuda_graph, net or op,
// crop, batch, steps, warmup, ms_per_step, img_per_s, step_ms, step_gflop, tflop_per_s,
// peak_bytes, ...; op benchmarks add rows). `torch`, when not null, is a PyTorch record
// (torch_cpu_step.py's object or torch_baseline.py's list) whose matching row (same precision:
// fp32 or bf16) is attached as "torch" with "ratio" = ours / PyTorch's time; a float32 run also
// gets torch_baseline.py's CUDA-graph row as "torch_graph" with "ratio_graph".
nlohmann::json bench_json(const BenchReport& rep, const nlohmann::json* torch = nullptr);
// A readable table of the same, with the PyTorch column and ratio when matched.
std::string bench_table(const BenchReport& rep, const nlohmann::json* torch = nullptr);
// The row of a PyTorch record that matches a net benchmark (same net, crop and batch; for
// torch_baseline.py also its mode: "fp32" or "bf16" by the run's precision, or "graph"), or null
// when none matches.
nlohmann::json match_torch(const nlohmann::json& torch, const BenchReport& rep);

}  // namespace dybat
