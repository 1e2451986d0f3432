// CPU activation loops over contiguous tensors (math in activation_math.h).
#include "core/dispatch.h"
#include "kernels/activation.h"
#include "kernels/backend.h"

namespace dybat::cpu {

namespace {
constexpr int64_t kParallelMin = 32768;  // below this, threads cost more than they save
}

void activation_forward(Act act, const Tensor& x, const Tensor& out) {
  dispatch_float(x.dtype(), "activation", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = act_forward(act, px[i]);
  });
}

void activation_backward(Act act, const Tensor& dout, const Tensor& x, const Tensor& out, const Tensor& dx) {
  dispatch_float(x.dtype(), "activation backward", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pd = dout.data<T>();
    const T* px = x.data<T>();
    const T* py = out.defined() ? out.data<T>() : nullptr;
    T* pdx = dx.data<T>();
    int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T y = py ? py[i] : act_forward(act, px[i]);
      pdx[i] = pd[i] * act_derivative(act, px[i], y);
    }
  });
}

}  // namespace dybat::cpu
