// CUDA convolution: cuDNN (legacy v7-style API of cuDNN 9) for the convolution itself, own kernels
// for the bias add and the bias gradient. Kernels, then the cuDNN plan cache, then launchers.
//
// Algorithm choice. Each distinct geometry (shapes, parameters, dtype, math mode, determinism flag,
// device) gets a plan: its descriptors, built once, and for each direction an algorithm chosen
// once, with its workspace size. The choice comes, in this order, from
//   1. the record of choices (conv2d.h): an algorithm recorded for this geometry, e.g. imported
//      from a checkpoint, is used as long as cuDNN accepts it (so a resumed run runs the same
//      kernels as the run it continues);
//   2. cuDNN's heuristics (cudnnGet*Algorithm_v7, best expected first; the default): they run no
//      kernels, never synchronise the host and give the same answer on every run;
//   3. or, when backend_settings().conv_algo is Measure, timing the candidates on the device
//      (cudnnFind*Ex, fastest first), once per geometry, with scratch outputs and a workspace no
//      larger than backend_settings().workspace_limit_bytes. This synchronises the host once per
//      geometry and may choose differently between runs, which the record makes harmless.
// Under backend_settings().deterministic only deterministic algorithms qualify. Every choice is
// stored in the record, so conv2d_algorithms() lists what the run used.
//
// Math mode. Float32 uses TF32 tensor cores only when backend_settings().tf32_conv is on
// (CUDNN_TENSOR_OP_MATH); otherwise CUDNN_FMA_MATH, which forbids TF32, and algorithms reported
// with a tensor-op math type are skipped. Float64 uses CUDNN_DEFAULT_MATH. Bfloat16 (mixed
// precision) is cuDNN's BFLOAT16 configuration: bf16 data, float32 compute (the descriptor's
// compute type) and scaling factors, tensor-op math; the bias kernels add in float.
//
// Gradients follow the contract: dx assigned (beta = 0), dweight and dbias accumulated (beta = 1).
#include <cstdint>
#include <map>
#include <type_traits>
#include <memory>
#include <mutex>
#include <vector>

#include "core/capture.h"
#include "core/copy.h"
#include "core/dispatch.h"
#include "core/settings.h"
#include "kernels/backend.h"
#include "kernels/block_reduce.cuh"
#include "kernels/conv2d.h"
#include "kernels/cuda_launch.h"

namespace dybat::cuda {

namespace {

// ---- kernels ----------------------------------------------------------------------------------

// The type the bias kernels add in: float for bfloat16 data, the data's own type otherwise.
template <class T>
using BiasAcc = std::conditional_t<std::is_same_v<T, bf16>, float, T>;

// out[n, c, q] += bias[c] over out [N, C, P].
template <class T>
__global__ void add_bias_kernel(T* out, const T* bias, int64_t C, int64_t P, int64_t n) {
  using A = BiasAcc<T>;
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    out[i] = convert_scalar<T>(convert_scalar<A>(out[i]) + convert_scalar<A>(bias[(i / P) % C]));
  }
}

// dbias[c] += sum over n, q of dout[n, c, q]: one block per channel, a fixed-order tree reduction
// in double, so the result does not depend on timing.
template <class T>
__global__ void bias_grad_kernel(const T* dout, int64_t N, int64_t C, int64_t P, T* dbias) {
  const int64_t c = blockIdx.x;
  double acc = 0.0;
  for (int64_t r = threadIdx.x; r < N * P; r += blockDim.x) {
    const int64_t n = r / P, q = r - n * P;
    acc += convert_scalar<double>(dout[(n * C + c) * P + q]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    using A = BiasAcc<T>;
    dbias[c] = convert_scalar<T>(convert_scalar<A>(dbias[c]) + static_cast<A>(acc));
  }
}

// ---- plans ------------------------------------------------------------------------------------

enum Direction { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  // One convolution descriptor per direction: each carries the math type of its chosen algorithm.
  cudnnConvolutionDescriptor_t conv[3] = {nullptr, nullptr, nullptr};
  bool chosen[3] = {false, false, false};
  int algo[3] = {0, 0, 0};
  size_t workspace[3] = {0, 0, 0};
  std::vector<int64_t> record_key;  // the geometry's key in the record of choices (no device)

  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    for (auto* c : conv)
      if (c) cudnnDestroyConvolutionDescriptor(c);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
  }
};

// What one launcher needs from a plan (the plan itself lives in the cache for the process).
struct PlanView {
  const ConvPlan* plan;
  int algo;
  size_t workspace;
};

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

// Calls f(type_tag<S>) with S the type of cuDNN's alpha/beta for data of dtype t (double for
// double data, float otherwise) and f's own data type D as the second tag.
template <class F>
void dispatch_conv(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f(type_tag<float>{}, type_tag<float>{});
    case DType::Float64: return f(type_tag<double>{}, type_tag<double>{});
    case DType::BFloat16: return f(type_tag<float>{}, type_tag<bf16>{});
    default: break;
  }
  DYBAT_FAIL(op, ": unsupported dtype ", dtype_name(t), " (expected float32, float64 or bfloat16)");
}

bool is_tensor_op(cudnnMathType_t m) { return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

int to_int(int64_t v, const char* what) {
  DYBAT_CHECK(v >= 0 && v <= INT32_MAX, "conv2d (cuda): ", what, " ", v, " exceeds cuDNN's int range");
  return static_cast<int>(v);
}

std::unique_ptr<ConvPlan> make_plan(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p,
                                    cudnnMathType_t math) {
  auto plan = std::make_unique<ConvPlan>();
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

// Filters cuDNN's ranked candidates: successful, deterministic when asked, no tensor-op math when
// TF32 is off, and a workspace cuDNN confirms for the descriptor's final math type. `workspace_of`
// returns false when cuDNN rejects the (algorithm, math type) pair. Should every candidate be
// ranked with tensor-op math while TF32 is off, a second pass ignores that ranking: the descriptor
// stays FMA, so cuDNN still cannot use TF32.
template <class Perf, class WorkspaceFn>
bool pick(const std::vector<Perf>& perf, int returned, cudnnConvolutionDescriptor_t conv, cudnnMathType_t math,
          WorkspaceFn workspace_of, int& algo, size_t& workspace, cudnnMathType_t& used) {
  const bool deterministic = backend_settings().deterministic;
  const size_t limit = backend_settings().workspace_limit_bytes;
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < returned; ++i) {
      const Perf& r = perf[i];
      if (r.status != CUDNN_STATUS_SUCCESS) continue;
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
bool workspace_size(const ConvPlan& plan, Direction d, cudnnHandle_t h, int a, size_t& ws) {
  cudnnStatus_t st;
  if (d == kForward)
    st = cudnnGetConvolutionForwardWorkspaceSize(h, plan.x, plan.w, plan.conv[d], plan.y,
                                                 static_cast<cudnnConvolutionFwdAlgo_t>(a), &ws);
  else if (d == kBackwardData)
    st = cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w, plan.y, plan.conv[d], plan.x,
                                                      static_cast<cudnnConvolutionBwdDataAlgo_t>(a), &ws);
  else
    st = cudnnGetConvolutionBackwardFilterWorkspaceSize(h, plan.x, plan.y, plan.conv[d], plan.w,
                                                        static_cast<cudnnConvolutionBwdFilterAlgo_t>(a), &ws);
  return st == CUDNN_STATUS_SUCCESS;
}

int algorithm_count(Direction d) {
  if (d == kForward) return static_cast<int>(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  if (d == kBackwardData) return static_cast<int>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
  return static_cast<int>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
}

// A recorded choice, if cuDNN accepts it here: sets the descriptor's math type and the plan's
// algorithm and workspace. A rejected record leaves the descriptor as it was.
bool use_recorded(ConvPlan& plan, Direction d, cudnnHandle_t h, cudnnMathType_t requested) {
  int algo = 0, math = 0;
  if (!detail::find_conv2d_algorithm(plan.record_key, d, algo, math)) return false;
  if (algo < 0 || algo >= algorithm_count(d)) return false;
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
// measurement must not touch), and the workspace is the largest any algorithm needs within the
// limit.
struct MeasureBuffers {
  Tensor x, w, y, workspace;
  size_t workspace_bytes = 0;
};

MeasureBuffers measure_buffers(const ConvPlan& plan, Direction d, cudnnHandle_t h, const Tensor& x, const Tensor& w,
                               const Tensor& y) {
  MeasureBuffers b;
  b.x = d == kBackwardData ? Tensor::zeros(x.shape(), x.dtype(), x.device()) : x;
  b.w = d == kBackwardFilter ? Tensor::zeros(w.shape(), w.dtype(), w.device()) : w;
  b.y = d == kForward ? Tensor::zeros(y.shape(), y.dtype(), y.device()) : y;
  const size_t limit = backend_settings().workspace_limit_bytes;
  for (int a = 0; a < algorithm_count(d); ++a) {
    size_t ws = 0;
    if (workspace_size(plan, d, h, a, ws) && ws <= limit && ws > b.workspace_bytes) b.workspace_bytes = ws;
  }
  if (b.workspace_bytes)
    b.workspace = Tensor::empty({static_cast<int64_t>(b.workspace_bytes)}, DType::UInt8, y.device());
  return b;
}

void choose_algorithm(ConvPlan& plan, Direction d, cudnnHandle_t h, const Tensor& x, const Tensor& w,
                      const Tensor& y) {
  cudnnMathType_t math;
  DYBAT_CUDNN_CHECK(cudnnGetConvolutionMathType(plan.conv[d], &math));
  if (use_recorded(plan, d, h, math)) {
    plan.chosen[d] = true;
    return;
  }
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
  if (d == kForward) {
    DYBAT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(count));
    if (measure)
      DYBAT_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, plan.x, mb.x.data_ptr(), plan.w, mb.w.data_ptr(),
                                                               plan.conv[d], plan.y, mb.y.data_ptr(), count, &returned,
                                                               perf.data(), ws_ptr, mb.workspace_bytes));
    else
      DYBAT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x, plan.w, plan.conv[d], plan.y, count,
                                                               &returned, perf.data()));
    ok = pick(perf, returned, plan.conv[d], math, ws_of, plan.algo[d], plan.workspace[d], used);
  } else if (d == kBackwardData) {
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
    ok = pick(perf, returned, plan.conv[d], math, ws_of, plan.algo[d], plan.workspace[d], used);
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
    ok = pick(perf, returned, plan.conv[d], math, ws_of, plan.algo[d], plan.workspace[d], used);
  }
  static const char* names[] = {"forward", "backward data", "backward filter"};
  DYBAT_CHECK(ok, "conv2d (cuda): cuDNN offers no usable ", names[d], " algorithm for this geometry",
              backend_settings().deterministic ? " (only deterministic algorithms were allowed)" : "",
              " within the workspace limit of ", backend_settings().workspace_limit_bytes, " bytes");
  plan.chosen[d] = true;
  detail::store_conv2d_algorithm(plan.record_key, d, plan.algo[d], static_cast<int>(used));
}

// The plan of (x [N, C, H, W], w, y) under the current settings, with direction d's algorithm.
// (x, w, y) are the operands as cuDNN names them for the forward direction: for backward data x
// is dx, for backward filter w is dweight; their values matter only when measuring.
PlanView plan_for(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p, Direction d) {
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
  if (!slot->chosen[d]) choose_algorithm(*slot, d, h, x, w, y);
  return {slot.get(), slot->algo[d], slot->workspace[d]};
}

// Workspace from the caching allocator; freed (back to the cache, stream-ordered) by the caller's
// scope after the cuDNN call has been queued.
Tensor workspace_tensor(size_t bytes, Device device) {
  return bytes ? Tensor::empty({static_cast<int64_t>(bytes)}, DType::UInt8, device) : Tensor();
}

}  // namespace

// ---- launchers --------------------------------------------------------------------------------

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                    const Tensor& out) {
  const int dev = out.device().index;
  PlanView pv = plan_for(x, weight, out, p, kForward);
  Tensor ws = workspace_tensor(pv.workspace, out.device());
  cudnnHandle_t h = cudnn(dev);
  dispatch_conv(x.dtype(), "conv2d (cuda)", [&](auto stag, auto tag) {
    using S = DYBAT_SCALAR(stag);
    using T = DYBAT_SCALAR(tag);
    const S alpha = 1, beta = 0;  // double scaling for double data, float otherwise
    DYBAT_CUDNN_CHECK(cudnnConvolutionForward(h, &alpha, pv.plan->x, x.data_ptr(), pv.plan->w, weight.data_ptr(),
                                              pv.plan->conv[kForward],
                                              static_cast<cudnnConvolutionFwdAlgo_t>(pv.algo),
                                              ws.defined() ? ws.data_ptr() : nullptr, pv.workspace, &beta,
                                              pv.plan->y, out.data_ptr()));
    if (bias.defined()) {
      const int64_t n = out.numel(), C = out.size(1), P = out.size(2) * out.size(3);
      add_bias_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(out.data<T>(), bias.data<T>(), C, P, n);
      DYBAT_CUDA_LAUNCH_CHECK();
    }
  });
}

void conv2d_backward_input(const Tensor& dout, const Tensor& weight, const Conv2dParams& p, const Tensor& dx) {
  PlanView pv = plan_for(dx, weight, dout, p, kBackwardData);
  Tensor ws = workspace_tensor(pv.workspace, dx.device());
  cudnnHandle_t h = cudnn(dx.device().index);
  dispatch_conv(dx.dtype(), "conv2d backward (input, cuda)", [&](auto stag, auto) {
    using S = DYBAT_SCALAR(stag);
    const S alpha = 1, beta = 0;  // dx is assigned
    DYBAT_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &alpha, pv.plan->w, weight.data_ptr(), pv.plan->y,
                                                   dout.data_ptr(), pv.plan->conv[kBackwardData],
                                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(pv.algo),
                                                   ws.defined() ? ws.data_ptr() : nullptr, pv.workspace, &beta,
                                                   pv.plan->x, dx.data_ptr()));
  });
}

void conv2d_backward_weight(const Tensor& dout, const Tensor& x, const Conv2dParams& p, const Tensor& dweight) {
  PlanView pv = plan_for(x, dweight, dout, p, kBackwardFilter);
  Tensor ws = workspace_tensor(pv.workspace, dweight.device());
  cudnnHandle_t h = cudnn(dweight.device().index);
  dispatch_conv(x.dtype(), "conv2d backward (weight, cuda)", [&](auto stag, auto) {
    using S = DYBAT_SCALAR(stag);
    const S alpha = 1, beta = 1;  // dweight accumulates
    DYBAT_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &alpha, pv.plan->x, x.data_ptr(), pv.plan->y,
                                                     dout.data_ptr(), pv.plan->conv[kBackwardFilter],
                                                     static_cast<cudnnConvolutionBwdFilterAlgo_t>(pv.algo),
                                                     ws.defined() ? ws.data_ptr() : nullptr, pv.workspace, &beta,
                                                     pv.plan->w, dweight.data_ptr()));
  });
}

void conv2d_backward_bias(const Tensor& dout, const Tensor& dbias) {
  const int dev = dout.device().index;
  const int64_t N = dout.size(0), C = dout.size(1), P = dout.size(2) * dout.size(3);
  DYBAT_CHECK(C < (int64_t(1) << 31), "conv2d backward (bias, cuda): too many channels");
  dispatch_conv(dout.dtype(), "conv2d backward (bias, cuda)", [&](auto, auto tag) {
    using T = DYBAT_SCALAR(tag);
    bias_grad_kernel<T><<<static_cast<unsigned>(C), kBlock, 0, stream(dev)>>>(dout.data<T>(), N, C, P,
                                                                              dbias.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
