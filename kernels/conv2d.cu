// CUDA convolution: cuDNN (legacy v7-style API of cuDNN 9) for the convolution itself, own kernels
// for the bias add and the bias gradient. Kernels, then launchers; the cuDNN plans and the
// algorithm choice are in conv2d_plan.cu.
//
// A direction that cuDNN offers no usable algorithm for (the legacy API may have no bfloat16
// engine for a grouped or depthwise NCHW convolution) fails with the settings named, except in
// bfloat16: there that direction runs in float32 (conv_no_algorithm_action, conv2d_choice.h),
// its operands cast up and its result cast back, said once per process.
//
// Gradients follow the contract: dx assigned (beta = 0), dweight and dbias accumulated (beta = 1).
#include <cstdint>
#include <type_traits>
#include <string>

#include "core/dispatch.h"
#include "core/settings.h"
#include "kernels/backend.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cast.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_plan.h"
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

// ---- launchers ------------------------------------------------------------------------------

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

// Workspace from the caching allocator; freed (back to the cache, stream-ordered) by the caller's
// scope after the cuDNN call has been queued.
Tensor workspace_tensor(size_t bytes, Device device) {
  return bytes ? Tensor::empty({static_cast<int64_t>(bytes)}, DType::UInt8, device) : Tensor();
}

// A bfloat16 tensor's float32 copy (undefined stays undefined).
Tensor to_float32(const Tensor& t) {
  if (!t.defined()) return Tensor();
  Tensor out = Tensor::empty(t.shape(), DType::Float32, t.device());
  cuda::from_bf16(t, out);
  return out;
}

// Applies conv_no_algorithm_action to direction d of a geometry cuDNN offers no usable algorithm
// for: returns (after the once-per-process notice) when the caller is to run it in float32, else
// throws. x and w as plan_for takes them.
void fall_back_or_fail(int d, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  DYBAT_CHECK(conv_no_algorithm_action(x.dtype()) == ConvNoAlgorithm::RunInFloat32, no_algorithm_message(d));
  static const char* names[] = {"the forward pass", "the input gradient", "the weight gradient"};
  note_conv_float32_fallback(detail::cat(names[d], " of the convolution of x ", shape_str(x.shape()), " with weight ",
                                         shape_str(w.shape()), " (groups ", p.groups, ", stride ", p.stride_h, "x",
                                         p.stride_w, ")"));
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                    const Tensor& out) {
  const int dev = out.device().index;
  PlanView pv = plan_for(x, weight, out, p, kConvForward);
  if (!pv.usable) {
    fall_back_or_fail(kConvForward, x, weight, p);
    Tensor out32 = Tensor::empty(out.shape(), DType::Float32, out.device());
    cuda::conv2d_forward(to_float32(x), to_float32(weight), to_float32(bias), p, out32);
    cuda::to_bf16(out32, out);
    return;
  }
  Tensor ws = workspace_tensor(pv.workspace, out.device());
  cudnnHandle_t h = cudnn(dev);
  dispatch_conv(x.dtype(), "conv2d (cuda)", [&](auto stag, auto tag) {
    using S = DYBAT_SCALAR(stag);
    using T = DYBAT_SCALAR(tag);
    const S alpha = 1, beta = 0;  // double scaling for double data, float otherwise
    DYBAT_CUDNN_CHECK(cudnnConvolutionForward(h, &alpha, pv.plan->x, x.data_ptr(), pv.plan->w, weight.data_ptr(),
                                              pv.plan->conv[kConvForward],
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
  PlanView pv = plan_for(dx, weight, dout, p, kConvBackwardData);
  if (!pv.usable) {
    fall_back_or_fail(kConvBackwardData, dx, weight, p);
    Tensor dx32 = Tensor::empty(dx.shape(), DType::Float32, dx.device());
    cuda::conv2d_backward_input(to_float32(dout), to_float32(weight), p, dx32);
    cuda::to_bf16(dx32, dx);
    return;
  }
  Tensor ws = workspace_tensor(pv.workspace, dx.device());
  cudnnHandle_t h = cudnn(dx.device().index);
  dispatch_conv(dx.dtype(), "conv2d backward (input, cuda)", [&](auto stag, auto) {
    using S = DYBAT_SCALAR(stag);
    const S alpha = 1, beta = 0;  // dx is assigned
    DYBAT_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &alpha, pv.plan->w, weight.data_ptr(), pv.plan->y,
                                                   dout.data_ptr(), pv.plan->conv[kConvBackwardData],
                                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(pv.algo),
                                                   ws.defined() ? ws.data_ptr() : nullptr, pv.workspace, &beta,
                                                   pv.plan->x, dx.data_ptr()));
  });
}

void conv2d_backward_weight(const Tensor& dout, const Tensor& x, const Conv2dParams& p, const Tensor& dweight) {
  PlanView pv = plan_for(x, dweight, dout, p, kConvBackwardFilter);
  if (!pv.usable) {
    // dweight accumulates: its float32 copy takes the sum, then rounds once back to bfloat16.
    fall_back_or_fail(kConvBackwardFilter, x, dweight, p);
    Tensor dw32 = to_float32(dweight);
    cuda::conv2d_backward_weight(to_float32(dout), to_float32(x), p, dw32);
    cuda::to_bf16(dw32, dweight);
    return;
  }
  Tensor ws = workspace_tensor(pv.workspace, dweight.device());
  cudnnHandle_t h = cudnn(dweight.device().index);
  dispatch_conv(x.dtype(), "conv2d backward (weight, cuda)", [&](auto stag, auto) {
    using S = DYBAT_SCALAR(stag);
    const S alpha = 1, beta = 1;  // dweight accumulates
    DYBAT_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &alpha, pv.plan->x, x.data_ptr(), pv.plan->y,
                                                     dout.data_ptr(), pv.plan->conv[kConvBackwardFilter],
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
