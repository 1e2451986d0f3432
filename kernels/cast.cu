// CUDA casts to and from bfloat16: grid-stride kernels over the shared rounding code
// (core/dtype.h), so they give the CPU's bits. Kernels, then launchers.
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/cast.h"
#include "kernels/cuda_launch.h"

namespace dybat::cuda {

namespace {

template <class To, class From>
__global__ void convert_kernel(const From* x, To* out, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) { out[i] = convert_scalar<To>(x[i]); }
}

}  // namespace

void to_bf16(const Tensor& x, const Tensor& out) {
  const int dev = x.device().index;
  const int64_t n = x.numel();
  dispatch_float(x.dtype(), "to_bf16 (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    convert_kernel<bf16, T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(x.data<T>(), out.data<bf16>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void from_bf16(const Tensor& x, const Tensor& out) {
  const int dev = x.device().index;
  const int64_t n = x.numel();
  dispatch_float(out.dtype(), "from_bf16 (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    convert_kernel<T, bf16><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(x.data<bf16>(), out.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
