// CUDA kernels of the synchronised batch norm: per-channel sums with one block per channel
// (each thread adds a fixed stride of the channel's values in double, then a fixed tree over the
// block: no atomics, bit-identical run to run), a one-thread-per-channel statistics kernel, and
// grid-stride elementwise passes. Kernels, then launchers. The all-reduces between them are the
// caller's (kernels/batchnorm_sync.cpp), queued on the same stream.
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/batchnorm_math.h"
#include "kernels/batchnorm_sync.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_launch.h"

namespace dybat::cuda {

namespace {

struct Planes {
  int64_t n, c, hw;
  DYBAT_HD int64_t count() const { return n * hw; }
  // Value j (j = b * hw + i) of channel ch.
  DYBAT_HD int64_t offset(int64_t ch, int64_t j) const { return ((j / hw) * c + ch) * hw + j % hw; }
};

Planes planes_of(const Tensor& x) { return {x.size(0), x.size(1), x.dim() == 4 ? x.size(2) * x.size(3) : 1}; }

// Block ch: sums[ch] = sum of x (center null), or dev[ch] = sum of (x - sums[ch] / sums[C])^2.
template <class T>
__global__ void channel_sums_kernel(const T* x, Planes P, const double* center, double* out) {
  const int64_t ch = blockIdx.x;
  const double mu = center ? center[ch] / center[P.c] : 0.0;
  double acc = 0.0;
  for (int64_t j = threadIdx.x; j < P.count(); j += blockDim.x) {
    const double v = static_cast<double>(x[P.offset(ch, j)]) - mu;
    acc += center ? v * v : v;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    out[ch] = acc;
    if (!center && ch == 0) out[P.c] = static_cast<double>(P.count());
  }
}

template <class T>
__global__ void sync_stats_kernel(const double* sums, const double* dev, int64_t c, double eps, T* mean, T* invstd,
                                  T* running_mean, T* running_var, double momentum) {
  DYBAT_CUDA_KERNEL_LOOP(ch, c) {
    const double n = sums[c], mu = sums[ch] / n;
    mean[ch] = static_cast<T>(mu);
    invstd[ch] = static_cast<T>(bn_invstd(dev[ch] / n, eps));
    if (running_mean) {
      running_mean[ch] = static_cast<T>(bn_running_update(static_cast<double>(running_mean[ch]), mu, momentum));
      running_var[ch] =
          static_cast<T>(bn_running_update(static_cast<double>(running_var[ch]), dev[ch] / (n - 1.0), momentum));
    }
  }
}

// Block ch: dz stored, the sums of dz and dz x_hat into gsums, and the parameter gradients.
template <class T>
__global__ void grad_sums_kernel(const T* dout, const T* x, const T* mean, const T* invstd, const T* gamma,
                                 const T* beta, const T* residual, Act act, Planes P, T* dz, double* gsums, T* dgamma,
                                 T* dbeta) {
  const int64_t ch = blockIdx.x;
  const T m = mean[ch], is = invstd[ch], g = gamma[ch], be = beta[ch];
  double s_dz = 0.0, s_dzx = 0.0;
  for (int64_t j = threadIdx.x; j < P.count(); j += blockDim.x) {
    const int64_t o = P.offset(ch, j);
    const T xh = bn_xhat(x[o], m, is);
    const T z = bn_dz(act, dout[o], bn_preact(xh, g, be, residual ? residual[o] : T(0)));
    dz[o] = z;
    s_dz += static_cast<double>(z);
    s_dzx += static_cast<double>(z) * static_cast<double>(xh);
  }
  block_sum(s_dz, s_dzx);
  if (threadIdx.x == 0) {
    gsums[ch] = s_dz;
    gsums[P.c + ch] = s_dzx;
    if (dgamma) dgamma[ch] = static_cast<T>(static_cast<double>(dgamma[ch]) + s_dzx);
    if (dbeta) dbeta[ch] = static_cast<T>(static_cast<double>(dbeta[ch]) + s_dz);
  }
}

template <class T>
__global__ void sync_dx_kernel(const T* dz, const T* x, const T* mean, const T* invstd, const T* gamma,
                               const double* gsums, const double* sums, Planes P, T* dx) {
  const double n = sums[P.c];
  DYBAT_CUDA_KERNEL_LOOP(i, P.n * P.c * P.hw) {
    const int64_t ch = (i / P.hw) % P.c;
    const T is = invstd[ch];
    dx[i] = bn_dx(dz[i], bn_xhat(x[i], mean[ch], is), gamma[ch] * is, static_cast<T>(gsums[ch] / n),
                  static_cast<T>(gsums[P.c + ch] / n), true);
  }
}

template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void batchnorm_sums(const Tensor& x, const Tensor& sums) {
  const int dev = x.device().index;
  const Planes P = planes_of(x);
  dispatch_float(x.dtype(), "batchnorm_sums (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    channel_sums_kernel<T>
        <<<static_cast<unsigned>(P.c), kBlock, 0, stream(dev)>>>(x.data<T>(), P, nullptr, sums.data<double>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void batchnorm_dev_sums(const Tensor& x, const Tensor& sums, const Tensor& dev_out) {
  const int dev = x.device().index;
  const Planes P = planes_of(x);
  dispatch_float(x.dtype(), "batchnorm_dev_sums (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    channel_sums_kernel<T><<<static_cast<unsigned>(P.c), kBlock, 0, stream(dev)>>>(x.data<T>(), P, sums.data<double>(),
                                                                                   dev_out.data<double>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void batchnorm_sync_stats(const Tensor& sums, const Tensor& dev_sums, double eps, const Tensor& mean,
                          const Tensor& invstd, const Tensor& running_mean, const Tensor& running_var,
                          double momentum) {
  const int dev = mean.device().index;
  const int64_t c = mean.size(0);
  dispatch_float(mean.dtype(), "batchnorm_sync_stats (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    sync_stats_kernel<T><<<grid_for(c, dev), kBlock, 0, stream(dev)>>>(
        sums.data<double>(), dev_sums.data<double>(), c, eps, mean.data<T>(), invstd.data<T>(),
        ptr_or_null<T>(running_mean), ptr_or_null<T>(running_var), momentum);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void batchnorm_grad_sums(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, const Tensor& dz,
                         const Tensor& gsums, const Tensor& dgamma, const Tensor& dbeta) {
  const int dev = x.device().index;
  const Planes P = planes_of(x);
  dispatch_float(x.dtype(), "batchnorm_grad_sums (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    grad_sums_kernel<T><<<static_cast<unsigned>(P.c), kBlock, 0, stream(dev)>>>(
        dout.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), gamma.data<T>(), beta.data<T>(),
        ptr_or_null<T>(residual), act, P, dz.data<T>(), gsums.data<double>(), ptr_or_null<T>(dgamma),
        ptr_or_null<T>(dbeta));
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void batchnorm_sync_dx(const Tensor& dz, const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                       const Tensor& gsums, const Tensor& sums, const Tensor& dx) {
  const int dev = x.device().index;
  const Planes P = planes_of(x);
  dispatch_float(x.dtype(), "batchnorm_sync_dx (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    sync_dx_kernel<T><<<grid_for(x.numel(), dev), kBlock, 0, stream(dev)>>>(
        dz.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), gamma.data<T>(), gsums.data<double>(),
        sums.data<double>(), P, dx.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
