// CPU kernels of the synchronised batch norm: per-channel sums in double, one channel per task,
// each channel's values added in sample order (a fixed order: bit-identical run to run for any
// thread count), and the elementwise dz and dx passes.
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/batchnorm_math.h"
#include "kernels/batchnorm_sync.h"

namespace dybat::cpu {

namespace {

// x [N, C, H, W] or [N, C] as N planes of C channels of hw values.
struct Planes {
  int64_t n, c, hw;
  explicit Planes(const Tensor& x) : n(x.size(0)), c(x.size(1)), hw(x.dim() == 4 ? x.size(2) * x.size(3) : 1) {}
  int64_t at(int64_t b, int64_t ch) const { return (b * c + ch) * hw; }
  bool parallel() const { return n * c * hw > 32768; }
};

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.template data<T>() : nullptr;
}

}  // namespace

void batchnorm_sums(const Tensor& x, const Tensor& sums) {
  const Planes P(x);
  double* s = sums.data<double>();
  dispatch_float(x.dtype(), "batchnorm_sums", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
#pragma omp parallel for schedule(static) if (P.parallel())
    for (int64_t ch = 0; ch < P.c; ++ch) {
      double acc = 0.0;
      for (int64_t b = 0; b < P.n; ++b)
        for (int64_t i = 0; i < P.hw; ++i) acc += static_cast<double>(px[P.at(b, ch) + i]);
      s[ch] = acc;
    }
  });
  s[P.c] = static_cast<double>(P.n * P.hw);
}

void batchnorm_dev_sums(const Tensor& x, const Tensor& sums, const Tensor& dev) {
  const Planes P(x);
  const double* s = sums.data<double>();
  double* d = dev.data<double>();
  dispatch_float(x.dtype(), "batchnorm_dev_sums", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
#pragma omp parallel for schedule(static) if (P.parallel())
    for (int64_t ch = 0; ch < P.c; ++ch) {
      const double mu = s[ch] / s[P.c];
      double acc = 0.0;
      for (int64_t b = 0; b < P.n; ++b)
        for (int64_t i = 0; i < P.hw; ++i) {
          const double v = static_cast<double>(px[P.at(b, ch) + i]) - mu;
          acc += v * v;
        }
      d[ch] = acc;
    }
  });
}

void batchnorm_sync_stats(const Tensor& sums, const Tensor& dev, double eps, const Tensor& mean, const Tensor& invstd,
                          const Tensor& running_mean, const Tensor& running_var, double momentum) {
  const int64_t c = mean.size(0);
  const double *s = sums.data<double>(), *d = dev.data<double>();
  const double n = s[c];
  dispatch_float(mean.dtype(), "batchnorm_sync_stats", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    T *pm = mean.data<T>(), *pi = invstd.data<T>();
    T* prm = running_mean.defined() ? running_mean.data<T>() : nullptr;
    T* prv = running_var.defined() ? running_var.data<T>() : nullptr;
    for (int64_t ch = 0; ch < c; ++ch) {
      const double mu = s[ch] / n;
      pm[ch] = static_cast<T>(mu);
      pi[ch] = static_cast<T>(bn_invstd(d[ch] / n, eps));
      if (prm) {
        prm[ch] = static_cast<T>(bn_running_update(static_cast<double>(prm[ch]), mu, momentum));
        prv[ch] = static_cast<T>(bn_running_update(static_cast<double>(prv[ch]), d[ch] / (n - 1.0), momentum));
      }
    }
  });
}

void batchnorm_grad_sums(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, const Tensor& dz,
                         const Tensor& gsums, const Tensor& dgamma, const Tensor& dbeta) {
  const Planes P(x);
  double* gs = gsums.data<double>();
  dispatch_float(x.dtype(), "batchnorm_grad_sums", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T *pd = dout.data<T>(), *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>(),
            *pg = gamma.data<T>(), *pb = beta.data<T>();
    const T* pr = data_or_null<T>(residual);
    T* pz = dz.data<T>();
#pragma omp parallel for schedule(static) if (P.parallel())
    for (int64_t ch = 0; ch < P.c; ++ch) {
      const T m = pm[ch], is = pi[ch], g = pg[ch], be = pb[ch];
      double s_dz = 0.0, s_dzx = 0.0;
      for (int64_t b = 0; b < P.n; ++b) {
        const int64_t off = P.at(b, ch);
        for (int64_t i = 0; i < P.hw; ++i) {
          const T xh = bn_xhat(px[off + i], m, is);
          const T z = bn_dz(act, pd[off + i], bn_preact(xh, g, be, pr ? pr[off + i] : T(0)));
          pz[off + i] = z;
          s_dz += static_cast<double>(z);
          s_dzx += static_cast<double>(z) * static_cast<double>(xh);
        }
      }
      gs[ch] = s_dz;
      gs[P.c + ch] = s_dzx;
    }
    T* pdg = dgamma.defined() ? dgamma.data<T>() : nullptr;
    T* pdb = dbeta.defined() ? dbeta.data<T>() : nullptr;
    for (int64_t ch = 0; ch < P.c; ++ch) {
      if (pdg) pdg[ch] = static_cast<T>(static_cast<double>(pdg[ch]) + gs[P.c + ch]);
      if (pdb) pdb[ch] = static_cast<T>(static_cast<double>(pdb[ch]) + gs[ch]);
    }
  });
}

void batchnorm_sync_dx(const Tensor& dz, const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                       const Tensor& gsums, const Tensor& sums, const Tensor& dx) {
  const Planes P(x);
  const double* gs = gsums.data<double>();
  const double n = sums.data<double>()[P.c];
  dispatch_float(x.dtype(), "batchnorm_sync_dx", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T *pz = dz.data<T>(), *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>(), *pg = gamma.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for schedule(static) if (P.parallel())
    for (int64_t p = 0; p < P.n * P.c; ++p) {
      const int64_t ch = p % P.c, off = p * P.hw;
      const T m = pm[ch], is = pi[ch], g_is = pg[ch] * pi[ch];
      const T mdz = static_cast<T>(gs[ch] / n), mdzx = static_cast<T>(gs[P.c + ch] / n);
      for (int64_t i = 0; i < P.hw; ++i)
        pdx[off + i] = bn_dx(pz[off + i], bn_xhat(px[off + i], m, is), g_is, mdz, mdzx, true);
    }
  });
}

}  // namespace dybat::cpu
