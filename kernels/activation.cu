// CUDA activation kernels (math in activation_math.h, shared with the CPU): kernels, then launchers.
#include "core/dispatch.h"
#include "kernels/activation.h"
#include "kernels/backend.h"
#include "kernels/cuda_launch.h"

namespace dybat::cuda {

namespace {

template <class T>
__global__ void activation_forward_kernel(Act act, const T* x, T* out, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) { out[i] = act_forward(act, x[i]); }
}

// y is the saved output when given (sigmoid), else recomputed from x.
template <class T>
__global__ void activation_backward_kernel(Act act, const T* dout, const T* x, const T* y, T* dx, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    T xi = x[i];
    T yi = y ? y[i] : act_forward(act, xi);
    dx[i] = dout[i] * act_derivative(act, xi, yi);
  }
}

}  // namespace

void activation_forward(Act act, const Tensor& x, const Tensor& out) {
  int dev = x.device().index;
  int64_t n = x.numel();
  dispatch_float(x.dtype(), "activation (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    activation_forward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(act, x.data<T>(), out.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void activation_backward(Act act, const Tensor& dout, const Tensor& x, const Tensor& out, const Tensor& dx) {
  int dev = x.device().index;
  int64_t n = x.numel();
  dispatch_float(x.dtype(), "activation backward (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    activation_backward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(
        act, dout.data<T>(), x.data<T>(), out.defined() ? out.data<T>() : nullptr, dx.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
