// CUDA fused batch norm: kernels, then launchers.
//
// Per-channel sums (statistics in the forward, sum dz and sum dz x_hat in the backward) use two
// kernels: a partial kernel on a (slices, channels) grid, where block (s, c) reduces slice s of
// channel c's n values with a fixed tree into partial[c][s], then a finalize kernel with one
// thread per channel adding its slices in order. No atomics, so results are bit-identical run to
// run; slicing keeps the GPU busy when there are few channels with many values each.
// Sums are in double. The statistics sum x - k and (x - k)^2 with the shift k = the channel's
// first value, so the variance S2/n - (S1/n)^2 does not cancel catastrophically.
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_math.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_launch.h"

namespace dybat::cuda {

namespace {

// x [N, C, H, W] or [N, C]: value j of channel c (j = b * hw + i) sits at (b * C + c) * hw + i.
// Index arithmetic is in 32 bits when every index fits (`small`): 64-bit division costs several
// times more and these kernels do one per element.
struct Layout {
  int64_t n, c, hw;
  bool small;
  DYBAT_HD int64_t count() const { return n * hw; }
  DYBAT_HD int64_t offset(int64_t ch, int64_t j) const {
    if (small) {
      uint32_t j32 = static_cast<uint32_t>(j), hw32 = static_cast<uint32_t>(hw), b = j32 / hw32;
      return (static_cast<int64_t>(b) * c + ch) * hw + (j32 - b * hw32);
    }
    return ((j / hw) * c + ch) * hw + j % hw;
  }
  // The channel of storage index i.
  DYBAT_HD int64_t channel(int64_t i) const {
    if (small) return (static_cast<uint32_t>(i) / static_cast<uint32_t>(hw)) % static_cast<uint32_t>(c);
    return (i / hw) % c;
  }
};

Layout layout_of(const Tensor& x) {
  return {x.size(0), x.size(1), x.dim() == 4 ? x.size(2) * x.size(3) : 1, x.numel() < (int64_t(1) << 32)};
}

// The slice [begin, end) of a channel's values handled by block s of `slices`.
__device__ void slice_range(int64_t count, int slices, int s, int64_t& begin, int64_t& end) {
  int64_t per = (count + slices - 1) / slices;
  begin = s * per;
  end = begin + per < count ? begin + per : count;
}

// partial[(c * slices + s) * 2 + {0, 1}] = sums of (x - k) and (x - k)^2 over the slice.
template <class T>
__global__ void stats_partial_kernel(const T* x, Layout L, double* partial) {
  int ch = blockIdx.y, s = blockIdx.x, slices = gridDim.x;
  double k = static_cast<double>(x[L.offset(ch, 0)]);
  int64_t begin, end;
  slice_range(L.count(), slices, s, begin, end);
  double s1 = 0, s2 = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    double d = static_cast<double>(x[L.offset(ch, j)]) - k;
    s1 += d;
    s2 += d * d;
  }
  block_sum(s1, s2);
  if (threadIdx.x == 0) {
    partial[(static_cast<int64_t>(ch) * slices + s) * 2] = s1;
    partial[(static_cast<int64_t>(ch) * slices + s) * 2 + 1] = s2;
  }
}

template <class T>
__global__ void stats_finalize_kernel(const T* x, Layout L, const double* partial, int slices, double eps,
                                      double momentum, T* mean, T* invstd, T* running_mean, T* running_var) {
  int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (ch >= L.c) return;
  double s1 = 0, s2 = 0;
  for (int s = 0; s < slices; ++s) {
    s1 += partial[(ch * slices + s) * 2];
    s2 += partial[(ch * slices + s) * 2 + 1];
  }
  double n = static_cast<double>(L.count());
  double k = static_cast<double>(x[L.offset(ch, 0)]);
  double d = s1 / n;
  double var = s2 / n - d * d;
  var = var > 0 ? var : 0;
  double mu = k + d;
  mean[ch] = static_cast<T>(mu);
  invstd[ch] = static_cast<T>(bn_invstd(var, eps));
  if (running_mean) {
    running_mean[ch] = static_cast<T>(bn_running_update(static_cast<double>(running_mean[ch]), mu, momentum));
    running_var[ch] =
        static_cast<T>(bn_running_update(static_cast<double>(running_var[ch]), var * n / (n - 1.0), momentum));
  }
}

template <class T>
__global__ void invstd_kernel(const T* var, double eps, T* invstd, int64_t c) {
  DYBAT_CUDA_KERNEL_LOOP(ch, c) { invstd[ch] = static_cast<T>(bn_invstd(static_cast<double>(var[ch]), eps)); }
}

template <class T>
__global__ void apply_kernel(const T* x, const T* mean, const T* invstd, const T* gamma, const T* beta,
                             const T* residual, Act act, Layout L, T* out, int64_t total) {
  DYBAT_CUDA_KERNEL_LOOP(i, total) {
    int64_t ch = L.channel(i);
    T z = bn_preact(bn_xhat(x[i], mean[ch], invstd[ch]), gamma[ch], beta[ch], residual ? residual[i] : T(0));
    out[i] = act_forward(act, z);
  }
}

// The channel's dz at storage index i, and its x_hat.
template <class T>
__device__ T dz_at(const T* dout, const T* x, const T* residual, Act act, T m, T is, T g, T be, int64_t i, T& xhat) {
  xhat = bn_xhat(x[i], m, is);
  return bn_dz(act, dout[i], bn_preact(xhat, g, be, residual ? residual[i] : T(0)));
}

// partial[(c * slices + s) * 2 + {0, 1}] = sums of dz and dz x_hat over the slice.
template <class T>
__global__ void backward_partial_kernel(const T* dout, const T* x, const T* mean, const T* invstd, const T* gamma,
                                        const T* beta, const T* residual, Act act, Layout L, double* partial) {
  int ch = blockIdx.y, s = blockIdx.x, slices = gridDim.x;
  T m = mean[ch], is = invstd[ch], g = gamma[ch], be = beta[ch];
  int64_t begin, end;
  slice_range(L.count(), slices, s, begin, end);
  double s1 = 0, s2 = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    T xhat;
    double dz = static_cast<double>(dz_at(dout, x, residual, act, m, is, g, be, L.offset(ch, j), xhat));
    s1 += dz;
    s2 += dz * static_cast<double>(xhat);
  }
  block_sum(s1, s2);
  if (threadIdx.x == 0) {
    partial[(static_cast<int64_t>(ch) * slices + s) * 2] = s1;
    partial[(static_cast<int64_t>(ch) * slices + s) * 2 + 1] = s2;
  }
}

// dgamma += sum dz x_hat, dbeta += sum dz; means[c] = {mean dz, mean dz x_hat} for the dx kernel.
template <class T>
__global__ void backward_finalize_kernel(const double* partial, int slices, Layout L, T* dgamma, T* dbeta, T* means) {
  int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (ch >= L.c) return;
  double s1 = 0, s2 = 0;
  for (int s = 0; s < slices; ++s) {
    s1 += partial[(ch * slices + s) * 2];
    s2 += partial[(ch * slices + s) * 2 + 1];
  }
  if (dgamma) dgamma[ch] = static_cast<T>(static_cast<double>(dgamma[ch]) + s2);
  if (dbeta) dbeta[ch] = static_cast<T>(static_cast<double>(dbeta[ch]) + s1);
  double n = static_cast<double>(L.count());
  means[ch * 2] = static_cast<T>(s1 / n);
  means[ch * 2 + 1] = static_cast<T>(s2 / n);
}

// dresidual = dz and dx from it; `means` is null with running statistics.
template <class T>
__global__ void backward_apply_kernel(const T* dout, const T* x, const T* mean, const T* invstd, const T* gamma,
                                      const T* beta, const T* residual, const T* means, Act act, Layout L, T* dx,
                                      T* dresidual, int64_t total) {
  DYBAT_CUDA_KERNEL_LOOP(i, total) {
    int64_t ch = L.channel(i);
    T g = gamma[ch], is = invstd[ch];
    T xhat;
    T dz = dz_at(dout, x, residual, act, mean[ch], is, g, beta[ch], i, xhat);
    if (dresidual) dresidual[i] = dz;
    if (dx)
      dx[i] = means ? bn_dx(dz, xhat, g * is, means[ch * 2], means[ch * 2 + 1], true)
                    : bn_dx(dz, xhat, g * is, T(0), T(0), false);
  }
}

// Slices per channel: enough blocks to fill the GPU a few times, each slice at least 4 values
// per thread.
int slices_for(const Layout& L, int dev) {
  int64_t target = (4 * static_cast<int64_t>(sm_count(dev)) + L.c - 1) / L.c;
  int64_t by_size = (L.count() + 4 * kBlock - 1) / (4 * kBlock);
  int64_t s = target < by_size ? target : by_size;
  return static_cast<int>(s < 1 ? 1 : (s > 65535 ? 65535 : s));
}

template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void batchnorm_stats(const Tensor& x, double eps, const Tensor& mean, const Tensor& invstd, const Tensor& running_mean,
                     const Tensor& running_var, double momentum) {
  int dev = x.device().index;
  Layout L = layout_of(x);
  DYBAT_CHECK(L.c <= 65535, "batchnorm (cuda): at most 65535 channels, got ", L.c);
  int slices = slices_for(L, dev);
  Tensor partial = Tensor::empty({L.c * slices * 2}, DType::Float64, x.device());
  dispatch_float(x.dtype(), "batchnorm_stats (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    stats_partial_kernel<T>
        <<<dim3(slices, static_cast<unsigned>(L.c)), kBlock, 0, stream(dev)>>>(x.data<T>(), L, partial.data<double>());
    DYBAT_CUDA_LAUNCH_CHECK();
    stats_finalize_kernel<T><<<static_cast<unsigned>((L.c + kBlock - 1) / kBlock), kBlock, 0, stream(dev)>>>(
        x.data<T>(), L, partial.data<double>(), slices, eps, momentum, mean.data<T>(), invstd.data<T>(),
        ptr_or_null<T>(running_mean), ptr_or_null<T>(running_var));
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void batchnorm_invstd(const Tensor& var, double eps, const Tensor& invstd) {
  int dev = var.device().index;
  int64_t c = var.numel();
  dispatch_float(var.dtype(), "batchnorm_invstd (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    invstd_kernel<T><<<grid_for(c, dev), kBlock, 0, stream(dev)>>>(var.data<T>(), eps, invstd.data<T>(), c);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma, const Tensor& beta,
                     const Tensor& residual, Act act, const Tensor& out) {
  int dev = x.device().index;
  Layout L = layout_of(x);
  int64_t total = x.numel();
  dispatch_float(x.dtype(), "batchnorm_apply (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    apply_kernel<T><<<grid_for(total, dev), kBlock, 0, stream(dev)>>>(
        x.data<T>(), mean.data<T>(), invstd.data<T>(), gamma.data<T>(), beta.data<T>(), ptr_or_null<T>(residual), act,
        L, out.data<T>(), total);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void batchnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, bool batch_stats,
                        const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dresidual) {
  int dev = x.device().index;
  Layout L = layout_of(x);
  DYBAT_CHECK(L.c <= 65535, "batchnorm (cuda): at most 65535 channels, got ", L.c);
  int64_t total = x.numel();
  bool need_sums = dgamma.defined() || dbeta.defined() || (dx.defined() && batch_stats);
  bool need_elementwise = dx.defined() || dresidual.defined();
  dispatch_float(x.dtype(), "batchnorm_backward (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    Tensor means;  // [C, 2]: mean dz, mean dz x_hat
    if (need_sums) {
      int slices = slices_for(L, dev);
      Tensor partial = Tensor::empty({L.c * slices * 2}, DType::Float64, x.device());
      means = Tensor::empty({L.c, 2}, x.dtype(), x.device());
      backward_partial_kernel<T><<<dim3(slices, static_cast<unsigned>(L.c)), kBlock, 0, stream(dev)>>>(
          dout.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), gamma.data<T>(), beta.data<T>(),
          ptr_or_null<T>(residual), act, L, partial.data<double>());
      DYBAT_CUDA_LAUNCH_CHECK();
      backward_finalize_kernel<T><<<static_cast<unsigned>((L.c + kBlock - 1) / kBlock), kBlock, 0, stream(dev)>>>(
          partial.data<double>(), slices, L, ptr_or_null<T>(dgamma), ptr_or_null<T>(dbeta), means.data<T>());
      DYBAT_CUDA_LAUNCH_CHECK();
    }
    if (need_elementwise) {
      backward_apply_kernel<T><<<grid_for(total, dev), kBlock, 0, stream(dev)>>>(
          dout.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), gamma.data<T>(), beta.data<T>(),
          ptr_or_null<T>(residual), batch_stats && means.defined() ? means.data<T>() : nullptr, act, L,
          ptr_or_null<T>(dx), ptr_or_null<T>(dresidual), total);
      DYBAT_CUDA_LAUNCH_CHECK();
    }
  });
}

}  // namespace dybat::cuda
