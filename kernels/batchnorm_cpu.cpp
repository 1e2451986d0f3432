// CPU fused batch norm: per-channel statistics and gradient sums in double, and the elementwise
// apply and dx over (n, c) planes. The statistics are computed as batchnorm.cu computes them (one
// pass of shifted sums); the reference is kernels/reference/batchnorm.cpp.
//
// Speed. The activation is a template parameter (no switch per element) and the residual's
// presence is hoisted out of the loops, so the inner loops vectorise; double sums run in eight
// independent lanes combined in a fixed order (a vectorisable and reproducible order). The
// statistics and gradient sums are parallel over channels and, when there are few channels for
// the threads, also over slices of the batch: each (channel, slice) task sums its images in order
// and the slices are added in order, so results are bit-identical run to run for a given thread
// count. The backward computes dz = dout act'(z) once, stores it (in dresidual, or in dx, which
// the second pass then overwrites in place) and derives dx from it.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_math.h"
#include "kernels/lane_sum_cpu.h"

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

// Calls f(std::integral_constant<Act, act>) so loops see the activation as a constant.
template <class F>
void dispatch_act(Act act, F&& f) {
  switch (act) {
    case Act::None: return f(std::integral_constant<Act, Act::None>{});
    case Act::ReLU: return f(std::integral_constant<Act, Act::ReLU>{});
    case Act::ReLU6: return f(std::integral_constant<Act, Act::ReLU6>{});
    case Act::Sigmoid: return f(std::integral_constant<Act, Act::Sigmoid>{});
    case Act::SiLU: return f(std::integral_constant<Act, Act::SiLU>{});
    case Act::HardSigmoid: return f(std::integral_constant<Act, Act::HardSigmoid>{});
    case Act::HardSwish: return f(std::integral_constant<Act, Act::HardSwish>{});
  }
}

// The statistics' sums over one plane: s1 += d and s2 += d^2 with d = x - shift (shift: the
// channel's first value, as in batchnorm.cu). Two loops over the plane while it is in cache:
// each vectorises on its own, where one loop feeding both sums does not.
template <class T>
void add_shifted(LaneSum& s1, LaneSum& s2, const T* p, int64_t n, double shift) {
  s1.add(n, [&](int64_t i) { return static_cast<double>(p[i]) - shift; });
  s2.add(n, [&](int64_t i) {
    const double d = static_cast<double>(p[i]) - shift;
    return d * d;
  });
}

// One plane of the backward's first pass: dz = dout act'(z), z = x_hat gamma + beta (+ residual),
// stored in zp (or in a local block when zp is null), then added to the lane sums of dz and
// dz x_hat. Two simple loops per block rather than one fused loop: each vectorises (the
// activation's kink becomes a select rather than an unpredictable branch).
template <Act A, bool kResidual, class T>
void dz_plane(const T* xp, const T* dp, const T* rp, T* zp, int64_t n, T m, T is, T g, T be, LaneSum& s_dz,
              LaneSum& s_dzx) {
  constexpr int64_t kChunk = 32 * kLanes;
  T local[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t len = std::min(kChunk, n - i0);
    const T *x = xp + i0, *d = dp + i0, *r = kResidual ? rp + i0 : nullptr;
    T* z = zp ? zp + i0 : local;
    for (int64_t i = 0; i < len; ++i) z[i] = bn_dz(A, d[i], bn_preact(bn_xhat(x[i], m, is), g, be, kResidual ? r[i] : T(0)));
    add_lanes2(s_dz, s_dzx, len, [&](int64_t i, double& dz, double& dzx) {
      dz = static_cast<double>(z[i]);
      dzx = dz * static_cast<double>(bn_xhat(x[i], m, is));
    });
  }
}

// Batch slices per channel for the sums: enough (channel, slice) tasks to keep every thread busy.
int64_t batch_slices(const Layout& L) {
  const int64_t threads = omp_get_max_threads();
  if (threads <= 1 || L.n * L.c * L.hw <= kParallelMin) return 1;
  return std::clamp<int64_t>((4 * threads + L.c - 1) / L.c, 1, L.n);
}

// Runs f(ch, b0, b1) for every channel and batch slice [b0, b1) (parallel when large), then
// returns; f writes its results into per-(channel, slice) slots.
template <class F>
void for_channel_slices(const Layout& L, int64_t slices, F&& f) {
  const int64_t tasks = L.c * slices;
#pragma omp parallel for schedule(static) if (L.n * L.c * L.hw > kParallelMin)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t ch = t / slices, s = t % slices;
    f(ch, s * L.n / slices, (s + 1) * L.n / slices, t);
  }
}

// ---- small planes ---------------------------------------------------------------------------
// With a few values per plane (hw <= kRowPlane: 4x4 down to 1x1 at small crops, and [N, C]
// inputs), per-plane loops are all overhead. There the data is read as N rows of C hw values:
// loops run along a row (vectorised, with per-position copies of the channel parameters), and
// sums accumulate per position over the rows in order, in double, before each channel adds its
// hw positions in order. Channels are split into fixed blocks (independent of the thread count).

constexpr int64_t kRowPlane = 16;
constexpr int64_t kRowBlock = 1024;  // positions per block of channels (whole channels, at most this many)

struct RowBlocks {
  int64_t per_block, count;  // channels per block, blocks
  explicit RowBlocks(const Layout& L)
      : per_block(std::max<int64_t>(1, kRowBlock / L.hw)), count((L.c + per_block - 1) / per_block) {}
};

// Per-position copies of a channel vector: out[j] = v[j / hw] for j < C hw.
template <class T>
std::vector<T> per_position(const Layout& L, const T* v) {
  std::vector<T> out(static_cast<size_t>(L.c * L.hw));
  for (int64_t c = 0; c < L.c; ++c)
    for (int64_t i = 0; i < L.hw; ++i) out[static_cast<size_t>(c * L.hw + i)] = v[c];
  return out;
}

bool row_parallel(const Layout& L) { return L.n * L.c * L.hw > kParallelMin; }

// Per channel c in [c0, c1): out1[c], out2[c] = the sums, in order, of its `per` consecutive
// partial sums in a1, a2 (indexed from channel c0): a row block's positions, or a channel's
// batch slices.
void channel_totals(int64_t per, int64_t c0, int64_t c1, const double* a1, const double* a2, double* out1,
                    double* out2) {
  for (int64_t c = c0; c < c1; ++c) {
    double t1 = 0.0, t2 = 0.0;
    for (int64_t i = 0; i < per; ++i) {
      t1 += a1[(c - c0) * per + i];
      t2 += a2[(c - c0) * per + i];
    }
    out1[c] = t1;
    out2[c] = t2;
  }
}

// Per channel: the sums over images and positions of d and d^2, d = x - shift_j[j] for position
// j of the row (the channel's shift copied per position).
template <class T>
void row_shifted_sums(const Layout& L, const T* px, const std::vector<double>& shift_j, double* s1, double* s2) {
  const RowBlocks B(L);
  const int64_t W = L.c * L.hw;
#pragma omp parallel for schedule(static) if (row_parallel(L) && B.count > 1)
  for (int64_t blk = 0; blk < B.count; ++blk) {
    const int64_t c0 = blk * B.per_block, c1 = std::min(L.c, c0 + B.per_block);
    const int64_t j0 = c0 * L.hw, len = (c1 - c0) * L.hw;
    double a1[kRowBlock], a2[kRowBlock];
    for (int64_t j = 0; j < len; ++j) a1[j] = a2[j] = 0.0;
    for (int64_t b = 0; b < L.n; ++b) {
      const T* row = px + b * W + j0;
      for (int64_t j = 0; j < len; ++j) {
        const double d = static_cast<double>(row[j]) - shift_j[j0 + j];
        a1[j] += d;
        a2[j] += d * d;
      }
    }
    channel_totals(L.hw, c0, c1, a1, a2, s1, s2);
  }
}

// The backward's first pass on small planes: dz stored (in zp, when given) and, per channel,
// the sums of dz and dz x_hat.
template <Act A, class T>
void row_dz_sums(const Layout& L, const T* px, const T* pd, const T* pr, T* pz, const T* pm, const T* pi,
                 const T* pg, const T* pb, double* sum_dz, double* sum_dzx) {
  const RowBlocks B(L);
  const int64_t W = L.c * L.hw;
  const std::vector<T> mj = per_position(L, pm), ij = per_position(L, pi), gj = per_position(L, pg),
                       bj = per_position(L, pb);
#pragma omp parallel for schedule(static) if (row_parallel(L) && B.count > 1)
  for (int64_t blk = 0; blk < B.count; ++blk) {
    const int64_t c0 = blk * B.per_block, c1 = std::min(L.c, c0 + B.per_block);
    const int64_t j0 = c0 * L.hw, len = (c1 - c0) * L.hw;
    double a_dz[kRowBlock], a_dzx[kRowBlock];
    T local[kRowBlock];
    for (int64_t j = 0; j < len; ++j) a_dz[j] = a_dzx[j] = 0.0;
    for (int64_t b = 0; b < L.n; ++b) {
      const int64_t off = b * W + j0;
      const T *x = px + off, *d = pd + off, *r = pr ? pr + off : nullptr;
      const T *m = mj.data() + j0, *is = ij.data() + j0, *g = gj.data() + j0, *be = bj.data() + j0;
      T* z = pz ? pz + off : local;
      if (r)
        for (int64_t j = 0; j < len; ++j) z[j] = bn_dz(A, d[j], bn_preact(bn_xhat(x[j], m[j], is[j]), g[j], be[j], r[j]));
      else
        for (int64_t j = 0; j < len; ++j) z[j] = bn_dz(A, d[j], bn_preact(bn_xhat(x[j], m[j], is[j]), g[j], be[j], T(0)));
      for (int64_t j = 0; j < len; ++j) {
        const double dz = static_cast<double>(z[j]);
        a_dz[j] += dz;
        a_dzx[j] += dz * static_cast<double>(bn_xhat(x[j], m[j], is[j]));
      }
    }
    channel_totals(L.hw, c0, c1, a_dz, a_dzx, sum_dz, sum_dzx);
  }
}

}  // namespace

void batchnorm_stats(const Tensor& x, double eps, const Tensor& mean, const Tensor& invstd, const Tensor& running_mean,
                     const Tensor& running_var, double momentum) {
  Layout L(x);
  const double cnt = static_cast<double>(L.count());
  const int64_t S = batch_slices(L);
  std::vector<double> part1(static_cast<size_t>(L.c * S)), part2(static_cast<size_t>(L.c * S));
  dispatch_float(x.dtype(), "batchnorm_stats", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* pm = mean.data<T>();
    T* pi = invstd.data<T>();
    T* prm = running_mean.defined() ? running_mean.data<T>() : nullptr;
    T* prv = running_var.defined() ? running_var.data<T>() : nullptr;
    // One pass, as batchnorm.cu: per channel s1 = sum (x - k) and s2 = sum (x - k)^2 with the
    // shift k = the channel's first value, then var = s2/n - (s1/n)^2. The shift keeps that
    // difference from cancelling catastrophically when the mean is large against the spread.
    std::vector<double> shift(static_cast<size_t>(L.c)), s1(static_cast<size_t>(L.c)), s2(static_cast<size_t>(L.c));
    for (int64_t ch = 0; ch < L.c; ++ch) shift[ch] = static_cast<double>(px[L.plane(0, ch)]);
    if (L.hw <= kRowPlane) {
      row_shifted_sums(L, px, per_position(L, shift.data()), s1.data(), s2.data());
    } else {
      for_channel_slices(L, S, [&](int64_t ch, int64_t b0, int64_t b1, int64_t t) {
        LaneSum a1, a2;
        for (int64_t b = b0; b < b1; ++b) add_shifted(a1, a2, px + L.plane(b, ch), L.hw, shift[ch]);
        part1[t] = a1.total();
        part2[t] = a2.total();
      });
      channel_totals(S, 0, L.c, part1.data(), part2.data(), s1.data(), s2.data());
    }
    for (int64_t ch = 0; ch < L.c; ++ch) {
      const double d = s1[ch] / cnt;
      double var = s2[ch] / cnt - d * d;
      var = var > 0 ? var : 0;
      const double mu = shift[ch] + d;
      pm[ch] = static_cast<T>(mu);
      pi[ch] = static_cast<T>(bn_invstd(var, eps));
      if (prm) {
        prm[ch] = static_cast<T>(bn_running_update(static_cast<double>(prm[ch]), mu, momentum));
        prv[ch] = static_cast<T>(bn_running_update(static_cast<double>(prv[ch]), var * cnt / (cnt - 1.0), momentum));
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
    const int64_t planes = L.n * L.c;
    dispatch_act(act, [&](auto a) {
      constexpr Act A = decltype(a)::value;
      if (L.hw <= kRowPlane) {
        const std::vector<T> mj = per_position(L, pm), ij = per_position(L, pi), gj = per_position(L, pg),
                             bj = per_position(L, pb);
        const int64_t W = L.c * L.hw;
#pragma omp parallel for schedule(static) if (row_parallel(L))
        for (int64_t b = 0; b < L.n; ++b) {
          const T* xr = px + b * W;
          T* orow = po + b * W;
          if (pr) {
            const T* rr = pr + b * W;
            for (int64_t j = 0; j < W; ++j)
              orow[j] = act_forward(A, bn_preact(bn_xhat(xr[j], mj[j], ij[j]), gj[j], bj[j], rr[j]));
          } else {
            for (int64_t j = 0; j < W; ++j)
              orow[j] = act_forward(A, bn_preact(bn_xhat(xr[j], mj[j], ij[j]), gj[j], bj[j], T(0)));
          }
        }
        return;
      }
#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
      for (int64_t p = 0; p < planes; ++p) {
        const int64_t ch = p % L.c, off = p * L.hw;
        const T m = pm[ch], is = pi[ch], g = pg[ch], be = pb[ch];
        const T* xp = px + off;
        T* op = po + off;
        if (pr) {
          const T* rp = pr + off;
          for (int64_t i = 0; i < L.hw; ++i) op[i] = act_forward(A, bn_preact(bn_xhat(xp[i], m, is), g, be, rp[i]));
        } else {
          for (int64_t i = 0; i < L.hw; ++i) op[i] = act_forward(A, bn_preact(bn_xhat(xp[i], m, is), g, be, T(0)));
        }
      }
    });
  });
}

void batchnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, bool batch_stats,
                        const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dresidual) {
  Layout L(x);
  const double cnt = static_cast<double>(L.count());
  const int64_t S = batch_slices(L);
  std::vector<double> part_dz(static_cast<size_t>(L.c * S)), part_dzx(static_cast<size_t>(L.c * S));
  dispatch_float(x.dtype(), "batchnorm_backward", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T *pd = dout.data<T>(), *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>(),
            *pg = gamma.data<T>(), *pb = beta.data<T>();
    const T* pr = data_or_null<T>(residual);
    T* pdx = dx.defined() ? dx.data<T>() : nullptr;
    T* pdg = dgamma.defined() ? dgamma.data<T>() : nullptr;
    T* pdb = dbeta.defined() ? dbeta.data<T>() : nullptr;
    T* pdr = dresidual.defined() ? dresidual.data<T>() : nullptr;
    // Where dz goes: dresidual (which is dz), else dx (overwritten by the second pass).
    T* pdz = pdr ? pdr : pdx;

    // Pass 1, per (channel, slice): dz = dout act'(z) with z recomputed as the forward computed
    // it, stored; sums of dz and dz x_hat in lanes.
    std::vector<double> sum_dz(static_cast<size_t>(L.c)), sum_dzx(static_cast<size_t>(L.c));
    dispatch_act(act, [&](auto a) {
      constexpr Act A = decltype(a)::value;
      if (L.hw <= kRowPlane) {
        row_dz_sums<A>(L, px, pd, pr, pdz, pm, pi, pg, pb, sum_dz.data(), sum_dzx.data());
        return;
      }
      for_channel_slices(L, S, [&](int64_t ch, int64_t b0, int64_t b1, int64_t t) {
        const T m = pm[ch], is = pi[ch], g = pg[ch], be = pb[ch];
        LaneSum s_dz, s_dzx;
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t off = L.plane(b, ch);
          T* zp = pdz ? pdz + off : nullptr;
          if (pr)
            dz_plane<A, true>(px + off, pd + off, pr + off, zp, L.hw, m, is, g, be, s_dz, s_dzx);
          else
            dz_plane<A, false>(px + off, pd + off, pr, zp, L.hw, m, is, g, be, s_dz, s_dzx);
        }
        part_dz[t] = s_dz.total();
        part_dzx[t] = s_dzx.total();
      });
    });

    // Per channel: the totals, the parameter gradients, and the two means dx needs.
    std::vector<T> mean_dz(static_cast<size_t>(L.c)), mean_dzx(static_cast<size_t>(L.c));
    if (L.hw > kRowPlane)
      channel_totals(S, 0, L.c, part_dz.data(), part_dzx.data(), sum_dz.data(), sum_dzx.data());
    for (int64_t ch = 0; ch < L.c; ++ch) {
      if (pdg) pdg[ch] = static_cast<T>(static_cast<double>(pdg[ch]) + sum_dzx[ch]);
      if (pdb) pdb[ch] = static_cast<T>(static_cast<double>(pdb[ch]) + sum_dz[ch]);
      mean_dz[ch] = static_cast<T>(sum_dz[ch] / cnt);
      mean_dzx[ch] = static_cast<T>(sum_dzx[ch] / cnt);
    }
    if (!pdx) return;

    if (L.hw <= kRowPlane) {
      // Pass 2 along rows, with per-position copies of the channel values.
      std::vector<T> gis(static_cast<size_t>(L.c));
      for (int64_t ch = 0; ch < L.c; ++ch) gis[ch] = pg[ch] * pi[ch];
      const std::vector<T> mj = per_position(L, pm), ij = per_position(L, pi), gisj = per_position(L, gis.data()),
                           mdzj = per_position(L, mean_dz.data()), mdzxj = per_position(L, mean_dzx.data());
      const int64_t W = L.c * L.hw;
#pragma omp parallel for schedule(static) if (row_parallel(L))
      for (int64_t b = 0; b < L.n; ++b) {
        const T *xr = px + b * W, *zr = pdz + b * W;
        T* dxr = pdx + b * W;
        if (batch_stats) {
          for (int64_t j = 0; j < W; ++j)
            dxr[j] = bn_dx(zr[j], bn_xhat(xr[j], mj[j], ij[j]), gisj[j], mdzj[j], mdzxj[j], true);
        } else {
          for (int64_t j = 0; j < W; ++j) dxr[j] = bn_dx(zr[j], T(0), gisj[j], mdzj[j], mdzxj[j], false);
        }
      }
      return;
    }

    // Pass 2, per (n, c) plane: dx from the stored dz.
    const int64_t planes = L.n * L.c;
#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
    for (int64_t p = 0; p < planes; ++p) {
      const int64_t ch = p % L.c, off = p * L.hw;
      const T m = pm[ch], is = pi[ch], g_is = pg[ch] * pi[ch], mdz = mean_dz[ch], mdzx = mean_dzx[ch];
      const T *xp = px + off, *zp = pdz + off;
      T* dxp = pdx + off;
      if (batch_stats) {
        for (int64_t i = 0; i < L.hw; ++i) dxp[i] = bn_dx(zp[i], bn_xhat(xp[i], m, is), g_is, mdz, mdzx, true);
      } else {
        for (int64_t i = 0; i < L.hw; ++i) dxp[i] = bn_dx(zp[i], T(0), g_is, mdz, mdzx, false);
      }
    }
  });
}

}  // namespace dybat::cpu
