// CUDA dropout (math in dropout_math.h, shared with the CPU, so masks agree bit for bit): kernel,
// then launcher.
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/cuda_launch.h"
#include "kernels/dropout.h"
#include "kernels/dropout_math.h"

namespace dybat::cuda {

namespace {

template <class T>
__global__ void dropout_kernel(const T* x, double p, uint64_t seed, uint64_t offset, T scale, T* out, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    out[i] = dropout_value(x[i], dropout_keep(seed, offset, static_cast<uint64_t>(i), p), scale);
  }
}

}  // namespace

void dropout_apply(const Tensor& x, double p, uint64_t seed, uint64_t offset, const Tensor& out) {
  int dev = x.device().index;
  int64_t n = x.numel();
  dispatch_float(x.dtype(), "dropout (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    dropout_kernel<T>
        <<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(x.data<T>(), p, seed, offset, scale, out.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
