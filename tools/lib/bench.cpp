// Training-step and op benchmarks (see bench.h).
#include "tools/lib/bench.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <sstream>

#include "core/allocator.h"
#include "core/copy.h"
#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/cpu_threads.h"
#include "layers/precision.h"
#include "nets/registry.h"
#include "nets/summary.h"
#include "train/graphed_step.h"
#include "train/step.h"

#if defined(DYBAT_CUDA)
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/cuda_context.h"
#endif

namespace dybat {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time used by this process so far (all threads), in ms.
double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

std::string device_description(Device device, int threads) {
#if defined(DYBAT_CUDA)
  if (device.is_cuda()) {
    cudaDeviceProp prop;
    DYBAT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device.index));
    return std::string(prop.name);
  }
#endif
  return detail::cat("cpu, ", threads, " threads, ", blas_info());
}

// Labels 0..classes-1 from the Philox stream (uniform, as torch.randint).
Tensor random_labels(int64_t n, int classes, Generator& g) {
  Tensor u = Tensor::uniform({n}, 0.0, static_cast<double>(classes), g, DType::Float64);
  std::vector<int64_t> y(static_cast<size_t>(n));
  const double* pu = u.data<double>();
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = std::min<int64_t>(static_cast<int64_t>(pu[i]), classes - 1);
  return Tensor::from_vector(y, {n});
}

// ---- the net training step ----------------------------------------------------------------------

void bench_net(const BenchRequest& r, BenchReport& rep) {
  auto t0 = Clock::now();
  Generator g(r.seed);
  auto net = create_net(r.net, r.classes, g);
  // Shapes only, from the net just built (as tools/summary counts them).
  const double forward = forward_gflops(trace_layers(*net, {1, 3, r.crop, r.crop}));
  rep.step_gflop = 3.0 * forward * static_cast<double>(r.batch);
  net->to(r.dtype);
  net->to(r.device);
  net->train();
  if (r.compute != DType::Float32) set_compute_dtype(*net, r.compute);
  Tensor x = Tensor::normal({r.batch, 3, r.crop, r.crop}, 0.0, 1.0, g, r.dtype, r.device);
  Tensor y = random_labels(r.batch, r.classes, g).to(r.device);
  // The step as train runs it (train/step.h): the paper's optimiser (lr 0.005, momentum 0.9),
  // the rate in device memory, gradients zeroed in place so a graph can replay the step.
  TrainStep train_step(*net, SgdOptions{}, r.batch, r.dtype, r.device);
  Tensor lr = Tensor::full({1}, SgdOptions{}.lr, DType::Float64, r.device);
  synchronize(r.device);
  rep.setup_ms = ms_since(t0);
  auto work = [&] { train_step.run(x, y, lr); };
  const GraphedStep::Mode mode = r.device.is_cuda() && r.cuda_graph ? GraphedStep::Mode::Graph
                                 : r.audit && r.device.is_cpu()     ? GraphedStep::Mode::Audit
                                                                    : GraphedStep::Mode::Eager;
  GraphedStep runner(r.device, mode, "the benchmark step");
  auto step = [&] { runner.run(work); };
  // A graph (or the audit) starts with the third call: the timed steps come after it.
  const int warmup = mode == GraphedStep::Mode::Eager ? r.warmup : std::max(r.warmup, 3);
  rep.request.warmup = warmup;
  rep.graphed = mode == GraphedStep::Mode::Graph;

  // The first step on its own: the wait before a training run's first optimiser step. The peak
  // memory covers every step from this one.
  Allocator& alloc = allocator_for(r.device);
  alloc.reset_peak();
  auto t1 = Clock::now();
  step();
  synchronize(r.device);
  rep.first_step_ms = ms_since(t1);
  std::vector<double> times;
  if (warmup == 0 && r.steps >= 1) times.push_back(rep.first_step_ms);  // the first step was a timed one
  const int warm_left = std::max(0, warmup - 1);
  const int timed_left = r.steps - static_cast<int>(times.size());

  for (int i = 0; i < warm_left; ++i) step();
  synchronize(r.device);
  AllocatorStats before = alloc.stats();
  const double cpu0 = process_cpu_ms();
  std::vector<double> rest = time_calls(step, timed_left, 0, r.device);
  const double cpu1 = process_cpu_ms();
  AllocatorStats after = alloc.stats();
  times.insert(times.end(), rest.begin(), rest.end());
  rep.peak_bytes = after.peak_bytes_in_use;
  if (timed_left > 0) {
    rep.allocs_per_step = static_cast<double>(after.allocs - before.allocs) / timed_left;
    rep.system_allocs_per_step = static_cast<double>(after.system_allocs - before.system_allocs) / timed_left;
    rep.cpu_ms_per_step = (cpu1 - cpu0) / timed_left;
  }
  BenchRow row;
  row.name = canonical_net_name(r.net);
  row.step_ms = times;
  row.ms = median_ms(times);
  rep.rows.push_back(row);
}

// ---- conv2d microbenchmarks ---------------------------------------------------------------------

struct ConvShape {
  const char* name;
  int64_t c_in, c_out, k, stride, div;  // input plane = crop / div
};

// The distinct convolutions of timm's resnet18 (conv1 sees the crop; the stem's max pool halves
// the plane again before layer1).
const ConvShape kResnet18Convs[] = {
    {"conv1", 3, 64, 7, 2, 1},
    {"layer1.0.conv1", 64, 64, 3, 1, 4},
    {"layer2.0.conv1", 64, 128, 3, 2, 4},
    {"layer2.0.downsample", 64, 128, 1, 2, 4},
    {"layer2.0.conv2", 128, 128, 3, 1, 8},
    {"layer3.0.conv1", 128, 256, 3, 2, 8},
    {"layer3.0.downsample", 128, 256, 1, 2, 8},
    {"layer3.0.conv2", 256, 256, 3, 1, 16},
    {"layer4.0.conv1", 256, 512, 3, 2, 16},
    {"layer4.0.downsample", 256, 512, 1, 2, 16},
    {"layer4.0.conv2", 512, 512, 3, 1, 32},
};

void bench_conv2d(const BenchRequest& r, BenchReport& rep) {
  auto t0 = Clock::now();
  Generator g(r.seed);
  Allocator& alloc = allocator_for(r.device);
  alloc.reset_peak();
  AllocatorStats before = alloc.stats();
  int64_t calls = 0;
  for (const ConvShape& s : kResnet18Convs) {
    const int64_t h = std::max<int64_t>(1, r.crop / s.div);
    Conv2dParams p;
    p.stride_h = p.stride_w = static_cast<int>(s.stride);
    p.pad_h = p.pad_w = static_cast<int>(s.k / 2);
    const int64_t oh = conv_out_size(h, s.k, p.stride_h, p.pad_h, p.dil_h);
    Tensor x = Tensor::normal({r.batch, s.c_in, h, h}, 0.0, 1.0, g, r.dtype, r.device);
    Tensor w = Tensor::normal({s.c_out, s.c_in, s.k, s.k}, 0.0, 0.05, g, r.dtype, r.device);
    Tensor out = Tensor::empty({r.batch, s.c_out, oh, oh}, r.dtype, r.device);
    Tensor dout = Tensor::normal(out.shape(), 0.0, 1.0, g, r.dtype, r.device);
    Tensor dx = Tensor::empty(x.shape(), r.dtype, r.device);
    Tensor dw = Tensor::zeros(w.shape(), r.dtype, r.device);
    BenchRow row;
    row.name = s.name;
    row.shape = detail::cat("x ", shape_str(x.shape()), " w ", shape_str(w.shape()), " s", s.stride);
    row.gflop = 2.0 * static_cast<double>(out.numel()) * static_cast<double>(s.c_in * s.k * s.k) * 1e-9;
    std::vector<double> fwd = time_calls([&] { conv2d_forward(x, w, Tensor(), p, out); }, r.steps, r.warmup, r.device);
    std::vector<double> bdx = time_calls([&] { conv2d_backward_input(dout, w, p, dx); }, r.steps, r.warmup, r.device);
    std::vector<double> bdw = time_calls([&] { conv2d_backward_weight(dout, x, p, dw); }, r.steps, r.warmup, r.device);
    calls += 3 * (r.steps + r.warmup);
    row.fwd_ms = median_ms(fwd);
    row.dx_ms = median_ms(bdx);
    row.dw_ms = median_ms(bdw);
    for (size_t i = 0; i < fwd.size(); ++i) row.step_ms.push_back(fwd[i] + bdx[i] + bdw[i]);
    row.ms = median_ms(row.step_ms);
    rep.rows.push_back(row);
  }
  AllocatorStats after = alloc.stats();
  rep.peak_bytes = after.peak_bytes_in_use;
  if (calls > 0) {
    rep.allocs_per_step = static_cast<double>(after.allocs - before.allocs) / static_cast<double>(calls);
    rep.system_allocs_per_step = static_cast<double>(after.system_allocs - before.system_allocs) / static_cast<double>(calls);
  }
  rep.setup_ms = ms_since(t0);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

double median_ms(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<double> time_calls(const std::function<void()>& fn, int steps, int warmup, Device device) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  if (steps <= 0) return ms;
#if defined(DYBAT_CUDA)
  if (device.is_cuda()) {
    // One event pair per step on the ops' stream; the host waits once, at the end.
    cudaStream_t st = cuda::stream(device.index);
    std::vector<cudaEvent_t> ev(2 * static_cast<size_t>(steps));
    for (auto& e : ev) DYBAT_CUDA_CHECK(cudaEventCreate(&e));
    for (int i = 0; i < steps; ++i) {
      DYBAT_CUDA_CHECK(cudaEventRecord(ev[2 * i], st));
      fn();
      DYBAT_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], st));
    }
    DYBAT_CUDA_CHECK(cudaEventSynchronize(ev.back()));
    for (int i = 0; i < steps; ++i) {
      float t = 0.0f;
      DYBAT_CUDA_CHECK(cudaEventElapsedTime(&t, ev[2 * i], ev[2 * i + 1]));
      ms.push_back(t);
    }
    for (auto& e : ev) cudaEventDestroy(e);
    return ms;
  }
#endif
  DYBAT_CHECK(device.is_cpu(), "bench: device ", device.str(), " needs a build with the CUDA backend");
  for (int i = 0; i < steps; ++i) {
    auto t0 = Clock::now();
    fn();
    ms.push_back(ms_since(t0));
  }
  return ms;
}

BenchReport run_bench(const BenchRequest& r) {
  DYBAT_CHECK(r.net.empty() != r.op.empty(), "bench: give either --net NAME or --op conv2d (not both)");
  if (!r.net.empty()) {
    DYBAT_CHECK(!canonical_net_name(r.net).empty(), "--net: unknown net '", r.net,
                "'; known nets: resnet18, resnet50, efficientnet_b4, efficientnetv2_s, mobilenetv3_small_100");
  } else {
    DYBAT_CHECK(r.op == "conv2d", "--op: unknown op '", r.op, "'; known ops: conv2d");
  }
  DYBAT_CHECK(r.crop >= 1, "--crop: must be a positive number of pixels, got ", r.crop);
  DYBAT_CHECK(r.batch >= 1, "--batch-size: must be at least 1, got ", r.batch);
  DYBAT_CHECK(r.steps >= 1, "--steps: must be at least 1, got ", r.steps);
  DYBAT_CHECK(r.warmup >= 0, "--warmup: must be 0 or more, got ", r.warmup);
  DYBAT_CHECK(r.threads >= 0, "--threads: must be 0 (keep the default) or more, got ", r.threads);
  DYBAT_CHECK(r.dtype == DType::Float32 || r.dtype == DType::Float64, "--precision: fp32, float64 or bf16, got ",
              dtype_name(r.dtype));
  DYBAT_CHECK(r.compute == DType::Float32 || (r.compute == DType::BFloat16 && r.device.is_cuda()),
              "--precision bf16 (mixed precision) runs on CUDA only; on ", r.device.str(), " use fp32");
  DYBAT_CHECK(r.compute == DType::Float32 || r.dtype == DType::Float32,
              "--precision bf16 keeps float32 master weights (dtype float32)");
  DYBAT_CHECK(r.device.is_cpu() || cuda_available(), "--device ", r.device.str(),
              ": no CUDA device is available (or this build has no CUDA backend); use --device cpu");
  if (r.threads > 0) set_cpu_threads(r.threads);
  BenchReport rep;
  rep.request = r;
  rep.threads = cpu_threads();
  rep.device_name = device_description(r.device, rep.threads);
  if (!r.net.empty())
    bench_net(r, rep);
  else
    bench_conv2d(r, rep);
  return rep;
}

namespace {

// "bf16" for a mixed-precision run, otherwise the dtype's name.
std::string precision_name(const BenchRequest& r) {
  return r.compute == DType::BFloat16 ? "bf16" : dtype_name(r.dtype);
}

nlohmann::json match_torch_mode(const nlohmann::json& torch, const BenchReport& rep, const std::string& mode) {
  if (rep.request.net.empty()) return nullptr;
  const std::string net = canonical_net_name(rep.request.net);
  auto matches = [&](const nlohmann::json& row) {
    if (!row.is_object() || !row.contains("ms_per_step") || !row["ms_per_step"].is_number()) return false;
    if (canonical_net_name(row.value("net", "")) != net) return false;
    if (row.value("crop", -1) != rep.request.crop || row.value("batch", -1) != rep.request.batch) return false;
    return row.contains("mode") ? row["mode"] == mode : mode != "graph";
  };
  if (torch.is_object()) return matches(torch) ? torch : nlohmann::json();
  if (torch.is_array())
    for (auto& row : torch)
      if (matches(row)) return row;
  return nullptr;
}

}  // namespace

nlohmann::json match_torch(const nlohmann::json& torch, const BenchReport& rep) {
  return match_torch_mode(torch, rep, rep.request.compute == DType::BFloat16 ? "bf16" : "fp32");
}

nlohmann::json bench_json(const BenchReport& rep, const nlohmann::json* torch) {
  const BenchRequest& r = rep.request;
  nlohmann::json j;
  j["kind"] = r.net.empty() ? "op" : "net";
  j["device"] = r.device.str();
  j["device_name"] = rep.device_name;
  j["threads"] = rep.threads;
  j["precision"] = precision_name(r);
  j["cuda_graph"] = rep.graphed;
  j["crop"] = r.crop;
  j["batch"] = r.batch;
  j["steps"] = r.steps;
  j["warmup"] = r.warmup;
  j["setup_ms"] = rep.setup_ms;
  j["peak_bytes"] = rep.peak_bytes;
  j["allocs_per_step"] = rep.allocs_per_step;
  j["system_allocs_per_step"] = rep.system_allocs_per_step;
  j["cpu_ms_per_step"] = rep.cpu_ms_per_step;
  if (!r.net.empty()) {
    const BenchRow& row = rep.rows.at(0);
    j["net"] = row.name;
    j["ms_per_step"] = row.ms;
    j["img_per_s"] = r.batch * 1000.0 / row.ms;
    j["step_ms"] = row.step_ms;
    j["first_step_ms"] = rep.first_step_ms;
    j["step_gflop"] = rep.step_gflop;
    j["tflop_per_s"] = rep.step_gflop / row.ms;  // GFLOP per ms = TFLOP per s
    if (torch) {
      nlohmann::json t = match_torch(*torch, rep);
      if (!t.is_null()) {
        j["torch"] = t;
        j["ratio"] = row.ms / t["ms_per_step"].get<double>();
      }
      nlohmann::json tg = r.compute == DType::Float32 ? match_torch_mode(*torch, rep, "graph") : nlohmann::json();
      if (!tg.is_null()) {
        j["torch_graph"] = tg;
        j["ratio_graph"] = row.ms / tg["ms_per_step"].get<double>();
      }
    }
  } else {
    j["op"] = r.op;
    j["rows"] = nlohmann::json::array();
    double total = 0.0;
    for (const BenchRow& row : rep.rows) {
      j["rows"].push_back({{"name", row.name},
                           {"shape", row.shape},
                           {"fwd_ms", row.fwd_ms},
                           {"dx_ms", row.dx_ms},
                           {"dw_ms", row.dw_ms},
                           {"ms", row.ms},
                           {"gflop", 3.0 * row.gflop},
                           {"gflops_per_s", 3.0 * row.gflop / (row.ms * 1e-3)}});
      total += row.ms;
    }
    j["ms_per_step"] = total;  // one forward and backward of each distinct shape
  }
  return j;
}

std::string bench_table(const BenchReport& rep, const nlohmann::json* torch) {
  const BenchRequest& r = rep.request;
  std::ostringstream s;
  s << "device " << r.device.str() << " (" << rep.device_name << "), " << precision_name(r)
    << (rep.graphed ? ", CUDA graph" : "") << ", crop " << r.crop << ", batch " << r.batch << ", " << r.steps
    << " timed steps after " << r.warmup << " warm-up\n";
  if (!r.net.empty()) {
    const BenchRow& row = rep.rows.at(0);
    nlohmann::json t = torch ? match_torch(*torch, rep) : nlohmann::json();
    s << "net                       ms/step     img/s  TFLOP/s   peak MiB  first step ms";
    if (!t.is_null()) s << "   torch ms   ratio";
    s << "\n";
    char line[256];
    std::snprintf(line, sizeof line, "%-24s %8.1f %9.1f %8.3f %10.1f %14.1f", row.name.c_str(), row.ms,
                  r.batch * 1000.0 / row.ms, rep.step_gflop / row.ms, rep.peak_bytes / 1048576.0, rep.first_step_ms);
    s << line;
    if (!t.is_null()) {
      double tm = t["ms_per_step"].get<double>();
      std::snprintf(line, sizeof line, " %10.1f %7.2f", tm, row.ms / tm);
      s << line;
    }
    s << "\n";
    if (torch && t.is_null()) s << "(no row of the PyTorch record matches this net, crop and batch)\n";
    s << "allocations per step: " << fmt("%.1f", rep.allocs_per_step) << " (from the system: "
      << fmt("%.2f", rep.system_allocs_per_step) << "); process CPU time per step: "
      << fmt("%.1f", rep.cpu_ms_per_step) << " ms\n";
  } else {
    s << "conv2d (ResNet-18 shapes)  shape                                         fwd ms    dx ms    dw ms   "
         "total  GFLOP/s\n";
    double total = 0.0;
    for (const BenchRow& row : rep.rows) {
      char line[256];
      std::snprintf(line, sizeof line, "%-26s %-44s %7.2f  %7.2f  %7.2f %7.2f %8.1f\n", row.name.c_str(),
                    row.shape.c_str(), row.fwd_ms, row.dx_ms, row.dw_ms, row.ms, 3.0 * row.gflop / (row.ms * 1e-3));
      s << line;
      total += row.ms;
    }
    s << "total " << fmt("%.2f", total) << " ms\n";
  }
  return s.str();
}

}  // namespace dybat
