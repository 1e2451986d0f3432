// cuDNN plans of conv2d (see conv2d_plan.h): descriptors built once per geometry, and per
// direction an algorithm chosen (the rules that need no cuDNN are in conv2d_choice.h).
//
// Algorithm choice. Each distinct geometry (shapes, parameters, dtype, math mode, determinism flag,
// device) gets a plan. The choice of a direction comes, in this order, from
//   1. the record of choices (conv2d.h): an algorithm recorded for this geometry, imported (e.g.
//      from a checkpoint) or chosen in this process under the current settings, is used as long
//      as cuDNN and the settings accept it (so a resumed run runs the same kernels as the run it
//      continues);
//   2. cuDNN's heuristics (cudnnGet*Algorithm_v7, best expected first; the default): they run no
//      kernels, never synchronise the host and give the same answer on every run;
//   3. or, when backend_settings().conv_algo is Measure, timing the candidates on the device
//      (cudnnFind*Ex, fastest first), once per geometry, with scratch outputs and a workspace no
//      larger than backend_settings().workspace_limit_bytes. This synchronises the host once per
//      geometry and may choose differently between runs, which the record makes harmless.
// Under backend_settings().deterministic only deterministic algorithms qualify, and under
// conv_exclude_fft_winograd no FFT or Winograd one. Every choice is stored in the record, so
// conv2d_algorithms() lists what the run used. A plan notes the stamp of each choice (the search
// mode, the workspace limit, the exclusion and the record's generation) and chooses again when
// the current stamp differs: changing a setting, clearing the record or importing choices after a
// geometry was planned takes effect at its next call.
//
// Math mode. Float32 uses TF32 tensor cores only when backend_settings().tf32_conv is on
// (CUDNN_TENSOR_OP_MATH); otherwise CUDNN_FMA_MATH, which forbids TF32, and algorithms reported
// with a tensor-op math type are skipped. Float64 uses CUDNN_DEFAULT_MATH. Bfloat16 (mixed
// precision) is cuDNN's BFLOAT16 configuration: bf16 data, float32 compute (the descriptor's
// compute type) and scaling factors, tensor-op math.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/capture.h"
#include "core/copy.h"
#include "core/cuda_check.h"
#include "core/cuda_context.h"
#include "core/settings.h"
#include "kernels/conv2d_plan.h"

namespace dybat::cuda {

// The host-side ids of conv2d_choice.h are cuDNN's.
static_assert(cudnn_algo::kFwdFft == CUDNN_CONVOLUTION_FWD_ALGO_FFT &&
              cudnn_algo::kFwdFftTiling == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
              cudnn_algo::kFwdWinograd == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD &&
              cudnn_algo::kFwdWinogradNonfused == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED &&
              cudnn_algo::kFwdImplicitGemm == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM &&
              cudnn_algo::kFwdCount == CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
static_assert(cudnn_algo::kBwdDataFft == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT &&
              cudnn_algo::kBwdDataFftTiling == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING &&
              cudnn_algo::kBwdDataWinograd == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD &&
              cudnn_algo::kBwdDataWinogradNonfused == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED &&
              cudnn_algo::kBwdDataCount == CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
static_assert(cudnn_algo::kBwdFilterFft == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT &&
              cudnn_algo::kBwdFilterFftTiling == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING &&
              cudnn_algo::kBwdFilterWinograd == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD &&
              cudnn_algo::kBwdFilterWinogradNonfused == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED &&
              cudnn_algo::kBwdFilterCount == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);

ConvPlan::~ConvPlan() {
  for (auto* c : conv)
    if (c) cudnnDestroyConvolutionDescriptor(c);
  if (w) cudnnDestroyFilterDescriptor(w);
  if (x) cudnnDestroyTensorDescriptor(x);
  if (y) cudnnDestroyTensorDescriptor(y);
}

namespace {

cudnnDataType_t cudnn_dtype(DType t) {
  switch (t) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: break;
  }
  DYBAT_FAIL("conv2d (cuda): unsupported dtype ", dtype_name(t), " (expected float32, float64 or bfloat16)");
}

// The convolution descriptor's compute type: float32 accumulation for bfloat16 data.
cudnnDataType_t cudnn_compute_dtype(DType t) { return t == DType::BFloat16 ? CUDNN_DATA_FLOAT : cudnn_dtype(t); }

cudnnMathType_t requested_math(DType t) {
  if (t == DType::BFloat16) return CUDNN_TENSOR_OP_MATH;
  if (t != DType::Float32) return CUDNN_DEFAULT_MATH;
  return backend_settings().tf32_conv ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
}

bool is_tensor_op(cudnnMathType_t m) { return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

int to_int(int64_t v, const char* what) {
  DYBAT_CHECK(v >= 0 && v <= INT32_MAX, "conv2d (cuda): ", what, " ", v, " exceeds cuDNN's int range");
  return static_cast<int>(v);
}

std::unique_ptr<ConvPlan> make_plan(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p,
                                    cudnnMathType_t math) {
  auto plan = std::make_unique<ConvPlan>();
  plan->math = math;
  cudnnDataType_t dt = cudnn_dtype(x.dtype());
  DYBAT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  DYBAT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  DYBAT_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  DYBAT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, dt, to_int(x.size(0), "batch"),
                                               to_int(x.size(1), "channels"), to_int(x.size(2), "height"),
                                               to_int(x.size(3), "width")));
  DYBAT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, dt, to_int(y.size(0), "batch"),
                                               to_int(y.size(1), "channels"), to_int(y.size(2), "height"),
                                               to_int(y.size(3), "width")));
  DYBAT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, dt, CUDNN_TENSOR_NCHW, to_int(w.size(0), "filters"),
                                               to_int(w.size(1), "channels"), to_int(w.size(2), "kernel height"),
                                               to_int(w.size(3), "kernel width")));
  for (auto& c : plan->conv) {
    DYBAT_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&c));
    DYBAT_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h, p.dil_w,
                                                      CUDNN_CROSS_CORRELATION, cudnn_compute_dtype(x.dtype())));
    DYBAT_CUDNN_CHECK(cudnnSetConvolutionGroupCount(c, p.groups));
    DYBAT_CUDNN_CHECK(cudnnSetConvolutionMathType(c, math));
  }
  int dims[4];
  DYBAT_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan->conv[0], plan->x, plan->w, &dims[0], &dims[1], &dims[2], &dims[3]));
  DYBAT_CHECK(dims[0] == y.size(0) && dims[1] == y.size(1) && dims[2] == y.size(2) && dims[3] == y.size(3),
              "conv2d (cuda): cuDNN computes output [", dims[0], ", ", dims[1], ", ", dims[2], ", ", dims[3],
              "], expected ", shape_str(y.shape()));
  return plan;
}

// Filters cuDNN's ranked candidates: successful, allowed by the settings (conv_algo_allowed),
// deterministic when asked, no tensor-op math when TF32 is off, and a workspace cuDNN confirms for
// the descriptor's final math type. `workspace_of` returns false when cuDNN rejects the
// (algorithm, math type) pair. Should every candidate be ranked with tensor-op math while TF32 is
// off, a second pass ignores that ranking: the descriptor stays FMA, so cuDNN still cannot use TF32.
template <class Perf, class WorkspaceFn>
bool pick(int d, const std::vector<Perf>& perf, int returned, cudnnConvolutionDescriptor_t conv,
          cudnnMathType_t math, WorkspaceFn workspace_of, int& algo, size_t& workspace, cudnnMathType_t& used) {
  const bool deterministic = backend_settings().deterministic;
  const size_t limit = backend_settings().workspace_limit_bytes;
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < returned; ++i) {
      const Perf& r = perf[i];
      if (r.status != CUDNN_STATUS_SUCCESS) continue;
      if (!conv_algo_allowed(d, static_cast<int>(r.algo))) continue;
      if (deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
      if (pass == 0 && math == CUDNN_FMA_MATH && is_tensor_op(r.mathType)) continue;
      // With TF32 allowed (or for float64) the descriptor takes the math type the algorithm was
      // ranked with; with TF32 off it stays FMA, which never lets cuDNN use TF32.
      cudnnMathType_t use = math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : r.mathType;
      if (cudnnSetConvolutionMathType(conv, use) != CUDNN_STATUS_SUCCESS) continue;
      size_t ws = 0;
      if (!workspace_of(static_cast<int>(r.algo), ws) || ws > limit) continue;
      algo = static_cast<int>(r.algo);
      workspace = ws;
      used = use;
      return true;
    }
    if (math != CUDNN_FMA_MATH) break;  // the second pass only matters with TF32 off
  }
  cudnnSetConvolutionMathType(conv, math);
  return false;
}

// cuDNN's workspace size for (direction, algorithm) under the descriptor's current math type;
// false when cuDNN rejects the pair.
bool workspace_size(const ConvPlan& plan, int d, cudnnHandle_t h, int a, size_t& ws) {
  cudnnStatus_t st;
  if (d == kConvForward)
    st = cudnnGetConvolutionForwardWorkspaceSize(h, plan.x, plan.w, plan.conv[d], plan.y,
                                                 static_cast<cudnnConvolutionFwdAlgo_t>(a), &ws);
  else if (d == kConvBackwardData)
    st = cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w, plan.y, plan.conv[d], plan.x,
                                                      static_cast<cudnnConvolutionBwdDataAlgo_t>(a), &ws);
  else
    st = cudnnGetConvolutionBackwardFilterWorkspaceSize(h, plan.x, plan.y, plan.conv[d], plan.w,
                                                        static_cast<cudnnConvolutionBwdFilterAlgo_t>(a), &ws);
  return st == CUDNN_STATUS_SUCCESS;
}

// A recorded choice, if cuDNN and the settings accept it here: sets the descriptor's math type
// and the plan's algorithm and workspace. A rejected record leaves the descriptor as it was.
bool use_recorded(ConvPlan& plan, int d, cudnnHandle_t h, cudnnMathType_t requested) {
  int algo = 0, math = 0;
  if (!detail::find_conv2d_algorithm(plan.record_key, d, algo, math)) return false;
  if (!conv_algo_allowed(d, algo)) return false;  // an unknown id, or excluded by the settings
  cudnnMathType_t m = static_cast<cudnnMathType_t>(math);
  if (requested == CUDNN_FMA_MATH && is_tensor_op(m)) return false;  // never TF32 when it is off
  if (cudnnSetConvolutionMathType(plan.conv[d], m) != CUDNN_STATUS_SUCCESS) {
    cudnnSetConvolutionMathType(plan.conv[d], requested);
    return false;
  }
  size_t ws = 0;
  if (!workspace_size(plan, d, h, algo, ws) || ws > backend_settings().workspace_limit_bytes) {
    cudnnSetConvolutionMathType(plan.conv[d], requested);
    return false;
  }
  plan.algo[d] = algo;
  plan.workspace[d] = ws;
  return true;
}

// The operands of a measurement: the read-only ones are the caller's tensors, the one each
// direction writes is a scratch tensor (backward filter accumulates into dweight, which a
// measurement must not touch), and the workspace is the largest any allowed algorithm needs
// within the limit.
struct MeasureBuffers {
  Tensor x, w, y, workspace;
  size_t workspace_bytes = 0;
};

MeasureBuffers measure_buffers(const ConvPlan& plan, int d, cudnnHandle_t h, const Tensor& x, const Tensor& w,
                               const Tensor& y) {
  MeasureBuffers b;
  b.x = d == kConvBackwardData ? Tensor::zeros(x.shape(), x.dtype(), x.device()) : x;
  b.w = d == kConvBackwardFilter ? Tensor::zeros(w.shape(), w.dtype(), w.device()) : w;
  b.y = d == kConvForward ? Tensor::zeros(y.shape(), y.dtype(), y.device()) : y;
  const size_t limit = backend_settings().workspace_limit_bytes;
  for (int a = 0; a < conv_algo_count(d); ++a) {
    size_t ws = 0;
    if (conv_algo_allowed(d, a) && workspace_size(plan, d, h, a, ws) && ws <= limit && ws > b.workspace_bytes)
      b.workspace_bytes = ws;
  }
  if (b.workspace_bytes)
    b.workspace = Tensor::empty({static_cast<int64_t>(b.workspace_bytes)}, DType::UInt8, y.device());
  return b;
}

// Chooses direction d's algorithm under the current settings; usable[d] says whether one was found.
// The plan notes the choice only once it is made, so one interrupted by an error (a measurement
// inside a capture) is tried again at the next call.
void choose_algorithm(ConvPlan& plan, int d, cudnnHandle_t h, const Tensor& x, const Tensor& w, const Tensor& y) {
  const ConvChoiceStamp stamp = current_conv_choice_stamp();
  auto done = [&](bool usable) {
    plan.chosen[d] = true;
    plan.stamp[d] = stamp;
    plan.usable[d] = usable;
  };
  if (conv_algorithms_refused(x.dtype())) return done(false);  // fault injection (conv2d_choice.h)
  // A choice made before left its own math type on the descriptor: start from the requested one.
  const cudnnMathType_t math = plan.math;
  DYBAT_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv[d], math));
  if (use_recorded(plan, d, h, math)) return done(true);
  const bool measure = backend_settings().conv_algo == ConvAlgoSearch::Measure;
  MeasureBuffers mb;
  if (measure) {
    // Timing runs kernels and waits for them: never inside a CUDA-graph capture (a step is
    // captured after a warm-up, so every geometry has its algorithms by then).
    capture_check("measuring cuDNN convolution algorithms");
    mb = measure_buffers(plan, d, h, x, w, y);
    ++transfer_counters().syncs;  // cudnnFind*Ex returns once the timed kernels have run
  }
  void* ws_ptr = mb.workspace.defined() ? mb.workspace.data_ptr() : nullptr;
  int count = 0, returned = 0;
  bool ok = false;
  cudnnMathType_t used = math;
  auto ws_of = [&](int a, size_t& ws) { return workspace_size(plan, d, h, a, ws); };
  if (d == kConvForward) {
    DYBAT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(count));
    if (measure)
      DYBAT_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, plan.x, mb.x.data_ptr(), plan.w, mb.w.data_ptr(),
                                                               plan.conv[d], plan.y, mb.y.data_ptr(), count, &returned,
                                                               perf.data(), ws_ptr, mb.workspace_bytes));
    else
      DYBAT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x, plan.w, plan.conv[d], plan.y, count,
                                                               &returned, perf.data()));
    ok = pick(d, perf, returned, plan.conv[d], math, ws_of, plan.algo[d], plan.workspace[d], used);
  } else if (d == kConvBackwardData) {
    DYBAT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(count));
    if (measure)
      DYBAT_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, plan.w, mb.w.data_ptr(), plan.y,
                                                                    mb.y.data_ptr(), plan.conv[d], plan.x,
                                                                    mb.x.data_ptr(), count, &returned, perf.data(),
                                                                    ws_ptr, mb.workspace_bytes));
    else
      DYBAT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w, plan.y, plan.conv[d], plan.x, count,
                                                                    &returned, perf.data()));
    ok = pick(d, perf, returned, plan.conv[d], math, ws_of, plan.algo[d], plan.workspace[d], used);
  } else {
    DYBAT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(count));
    if (measure)
      DYBAT_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, plan.x, mb.x.data_ptr(), plan.y,
                                                                      mb.y.data_ptr(), plan.conv[d], plan.w,
                                                                      mb.w.data_ptr(), count, &returned, perf.data(),
                                                                      ws_ptr, mb.workspace_bytes));
    else
      DYBAT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan.x, plan.y, plan.conv[d], plan.w, count,
                                                                      &returned, perf.data()));
    ok = pick(d, perf, returned, plan.conv[d], math, ws_of, plan.algo[d], plan.workspace[d], used);
  }
  if (!ok) return done(false);  // the launcher decides (conv_no_algorithm_action)
  detail::store_conv2d_algorithm(plan.record_key, d, plan.algo[d], static_cast<int>(used));
  done(true);
}

}  // namespace

std::string no_algorithm_message(int d) {
  static const char* names[] = {"forward", "backward data", "backward filter"};
  const BackendSettings& s = backend_settings();
  return detail::cat("conv2d (cuda): cuDNN offers no usable ", names[d], " algorithm for this geometry",
                     s.deterministic ? " (only deterministic algorithms were allowed)" : "",
                     s.conv_exclude_fft_winograd ? " (FFT and Winograd algorithms were excluded)" : "",
                     " within the workspace limit of ", s.workspace_limit_bytes, " bytes");
}

PlanView plan_for(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p, int d) {
  static std::mutex mu;
  static std::map<std::vector<int64_t>, std::unique_ptr<ConvPlan>> cache;  // lives for the process
  const int dev = y.device().index;
  const cudnnMathType_t math = requested_math(x.dtype());
  std::vector<int64_t> key = {dev,
                              static_cast<int64_t>(x.dtype()),
                              static_cast<int64_t>(math),
                              backend_settings().deterministic ? 1 : 0,
                              p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w, p.groups};
  for (const Tensor* t : {&x, &w})
    for (int64_t s : t->shape()) key.push_back(s);
  cudnnHandle_t h = cudnn(dev);  // also makes `dev` current
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<ConvPlan>& slot = cache[key];
  if (!slot) {
    slot = make_plan(x, w, y, p, math);
    slot->record_key.assign(key.begin() + 1, key.end());  // the same key without the device
  }
  if (!slot->chosen[d] || slot->stamp[d] != current_conv_choice_stamp()) choose_algorithm(*slot, d, h, x, w, y);
  return {slot.get(), slot->usable[d], slot->algo[d], slot->workspace[d]};
}

}  // namespace dybat::cuda
