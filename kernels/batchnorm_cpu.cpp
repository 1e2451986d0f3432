// CPU fused batch norm: per-channel statistics and gradient sums in double (one channel per
// task, values in a fixed order), and the elementwise apply over (n, c) planes.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_math.h"

namespace dybat::cpu {

namespace {

// x [N, C, H, W] or [N, C] as N planes of C channels of hw contiguous values.
struct Layout {
  int64_t n, c, hw;
  explicit Layout(const Tensor& x) : n(x.size(0)), c(x.size(1)), hw(x.dim() == 4 ? x.size(2) * x.size(3) : 1) {}
  int64_t plane(int64_t b, int64_t ch) const { return (b * c + ch) * hw; }  // offset of (b, ch, 0)
  int64_t count() const { return n * hw; }                                  // values per channel
};

constexpr int64_t kParallelMin = 32768;

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.template data<T>() : nullptr;
}

}  // namespace

void batchnorm_stats(const Tensor& x, double eps, const Tensor& mean, const Tensor& invstd, const Tensor& running_mean,
                     const Tensor& running_var, double momentum) {
  Layout L(x);
  double cnt = static_cast<double>(L.count());
  dispatch_float(x.dtype(), "batchnorm_stats", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* pm = mean.data<T>();
    T* pi = invstd.data<T>();
    T* prm = running_mean.defined() ? running_mean.data<T>() : nullptr;
    T* prv = running_var.defined() ? running_var.data<T>() : nullptr;
    // Two passes per channel (mean, then squared deviations from it) avoid the cancellation of
    // E[x^2] - E[x]^2.
#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
    for (int64_t ch = 0; ch < L.c; ++ch) {
      double s = 0.0;
      for (int64_t b = 0; b < L.n; ++b) {
        const T* p = px + L.plane(b, ch);
        for (int64_t i = 0; i < L.hw; ++i) s += static_cast<double>(p[i]);
      }
      double mu = s / cnt;
      double ss = 0.0;
      for (int64_t b = 0; b < L.n; ++b) {
        const T* p = px + L.plane(b, ch);
        for (int64_t i = 0; i < L.hw; ++i) {
          double d = static_cast<double>(p[i]) - mu;
          ss += d * d;
        }
      }
      pm[ch] = static_cast<T>(mu);
      pi[ch] = static_cast<T>(bn_invstd(ss / cnt, eps));
      if (prm) {
        prm[ch] = static_cast<T>(bn_running_update(static_cast<double>(prm[ch]), mu, momentum));
        prv[ch] = static_cast<T>(bn_running_update(static_cast<double>(prv[ch]), ss / (cnt - 1.0), momentum));
      }
    }
  });
}

void batchnorm_invstd(const Tensor& var, double eps, const Tensor& invstd) {
  dispatch_float(var.dtype(), "batchnorm_invstd", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pv = var.data<T>();
    T* pi = invstd.data<T>();
    for (int64_t ch = 0; ch < var.numel(); ++ch) pi[ch] = static_cast<T>(bn_invstd(static_cast<double>(pv[ch]), eps));
  });
}

void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma, const Tensor& beta,
                     const Tensor& residual, Act act, const Tensor& out) {
  Layout L(x);
  dispatch_float(x.dtype(), "batchnorm_apply", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>(), *pg = gamma.data<T>(),
            *pb = beta.data<T>();
    const T* pr = data_or_null<T>(residual);
    T* po = out.data<T>();
    int64_t planes = L.n * L.c;
#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
    for (int64_t p = 0; p < planes; ++p) {
      int64_t ch = p % L.c, off = p * L.hw;
      T m = pm[ch], is = pi[ch], g = pg[ch], be = pb[ch];
      for (int64_t i = off; i < off + L.hw; ++i) {
        T z = bn_preact(bn_xhat(px[i], m, is), g, be, pr ? pr[i] : T(0));
        po[i] = act_forward(act, z);
      }
    }
  });
}

void batchnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, bool batch_stats,
                        const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dresidual) {
  Layout L(x);
  double cnt = static_cast<double>(L.count());
  // The sums are needed for dgamma, dbeta, and dx with batch statistics.
  bool need_sums = dgamma.defined() || dbeta.defined() || (dx.defined() && batch_stats);
  bool need_elementwise = dx.defined() || dresidual.defined();
  dispatch_float(x.dtype(), "batchnorm_backward", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T *pd = dout.data<T>(), *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>(),
            *pg = gamma.data<T>(), *pb = beta.data<T>();
    const T* pr = data_or_null<T>(residual);
    T* pdx = dx.defined() ? dx.data<T>() : nullptr;
    T* pdg = dgamma.defined() ? dgamma.data<T>() : nullptr;
    T* pdb = dbeta.defined() ? dbeta.data<T>() : nullptr;
    T* pdr = dresidual.defined() ? dresidual.data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
    for (int64_t ch = 0; ch < L.c; ++ch) {
      T m = pm[ch], is = pi[ch], g = pg[ch], be = pb[ch];
      // dz and x_hat of element i of this channel (recomputed, as the forward computed them).
      auto dz_at = [&](int64_t i, T& xhat) {
        xhat = bn_xhat(px[i], m, is);
        return bn_dz(act, pd[i], bn_preact(xhat, g, be, pr ? pr[i] : T(0)));
      };
      double sum_dz = 0.0, sum_dz_xhat = 0.0;
      if (need_sums) {
        for (int64_t b = 0; b < L.n; ++b) {
          int64_t off = L.plane(b, ch);
          for (int64_t i = off; i < off + L.hw; ++i) {
            T xhat;
            double dz = static_cast<double>(dz_at(i, xhat));
            sum_dz += dz;
            sum_dz_xhat += dz * static_cast<double>(xhat);
          }
        }
        if (pdg) pdg[ch] = static_cast<T>(static_cast<double>(pdg[ch]) + sum_dz_xhat);
        if (pdb) pdb[ch] = static_cast<T>(static_cast<double>(pdb[ch]) + sum_dz);
      }
      if (!need_elementwise) continue;
      T g_is = g * is;
      T mean_dz = static_cast<T>(sum_dz / cnt), mean_dz_xhat = static_cast<T>(sum_dz_xhat / cnt);
      for (int64_t b = 0; b < L.n; ++b) {
        int64_t off = L.plane(b, ch);
        for (int64_t i = off; i < off + L.hw; ++i) {
          T xhat;
          T dz = dz_at(i, xhat);
          if (pdr) pdr[i] = dz;
          if (pdx) pdx[i] = bn_dx(dz, xhat, g_is, mean_dz, mean_dz_xhat, batch_stats);
        }
      }
    }
  });
}

}  // namespace dybat::cpu
