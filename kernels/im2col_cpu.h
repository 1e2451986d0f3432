// CPU building blocks of the GEMM convolution: the geometry of one convolution, im2col / col2im
// over a chunk of images, and the [B, C, P] <-> [C, B*P] transposes that let one GEMM cover a chunk.
//
// Column layout. For a chunk of B images the column matrix is [C_in T, B P] (P = H_out W_out, T the
// live taps, normally kH kW): row r = c T + a is input channel c seen through live tap a = (i, j), and column
// b P + oh W_out + ow is output pixel (oh, ow) of image b, holding
//   x[b, c, oh s_h - pad_h + i dil_h, ow s_w - pad_w + j dil_w]   (0 outside the image).
// Then out = W [C_out, C_in T] x col, per group on the matching row blocks.
//
// Every helper takes `parallel`: true from outside a parallel region (the loop is split over the
// OpenMP threads), false inside one (a thread working on its own images). Parallel loops have
// static schedules and every output element is written by one thread in a fixed order, so results
// are bit-identical run to run.
//
// Speed. At small crops the planes are tiny (8x8 down to 1x1), so per-row overheads dominate: the
// copies are plain loops rather than memcpy/fill calls, and the common "same" geometry (stride 1,
// output as wide as the input) moves a whole tap's plane as one contiguous shifted range, fixing up
// the few elements that wrap around a row edge.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/conv2d.h"

namespace dybat::cpu::conv_detail {

// The outputs o in [0, n_out) whose input coordinate o s + off lies inside [0, n_in): [lo, hi).
inline void valid_range(int64_t off, int64_t s, int64_t n_in, int64_t n_out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = n_in - off > 0 ? (n_in - off + s - 1) / s : 0;
  lo = std::min(lo, n_out);
  hi = std::clamp(hi, lo, n_out);
}

// Kernel tap (i, j) (index i kW + j): its offset into the padded input, and the output rows
// [hlo, hhi) and columns [lo, hi) where it sees the image rather than padding.
struct Tap {
  int64_t index, off_h, off_w, lo, hi, hlo, hhi;
  bool active() const { return hlo < hhi && lo < hi; }
};

// Output planes up to this size use ConvGeom::src tables: in im2col/col2im, and (larger, since
// there each pixel's work is small) in the depthwise loops.
constexpr int64_t kTablePlane = 16;
constexpr int64_t kDepthwiseTablePlane = 64;

struct ConvGeom {
  int64_t n = 0, c_in = 0, h = 0, w = 0;  // input [N, C_in, H, W]
  int64_t c_out = 0, kh = 0, kw = 0;      // weight [C_out, C_in/groups, kH, kW]
  int64_t oh = 0, ow = 0;                 // output [N, C_out, H_out, W_out]
  Conv2dParams p;

  // The taps that see the image somewhere, in (i, j) order. On tiny planes the others see only
  // padding (a 3x3 kernel on a 1x1 plane has one live tap of nine): their column rows would be
  // all zeros, so the GEMMs leave them out (and the weights are compacted to match).
  std::vector<Tap> taps;
  // For small output planes (P <= kTablePlane): for live tap a and output pixel q, the input
  // offset it reads within the plane, or -1 for padding (src[a P + q]). Per-row work would cost
  // more than the copy itself there.
  std::vector<int32_t> src;
  // The inverse, for col2im: input pixel i is read by the entries (inv_a[e], inv_q[e]) for e in
  // [inv_start[i], inv_start[i + 1]), in increasing (a, q) (the order a scatter would add them).
  std::vector<int32_t> inv_start, inv_a, inv_q;

  ConvGeom(const Tensor& x, const Tensor& weight, const Tensor& out, const Conv2dParams& params)
      : n(x.size(0)), c_in(x.size(1)), h(x.size(2)), w(x.size(3)), c_out(weight.size(0)), kh(weight.size(2)),
        kw(weight.size(3)), oh(out.size(2)), ow(out.size(3)), p(params) {
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        Tap t;
        t.index = i * kw + j;
        t.off_h = i * p.dil_h - p.pad_h;
        t.off_w = j * p.dil_w - p.pad_w;
        valid_range(t.off_w, p.stride_w, w, ow, t.lo, t.hi);
        valid_range(t.off_h, p.stride_h, h, oh, t.hlo, t.hhi);
        if (t.active()) taps.push_back(t);
      }
    if (plane_out() <= (depthwise() ? kDepthwiseTablePlane : kTablePlane)) {
      for (const Tap& t : taps)
        for (int64_t q = 0; q < plane_out(); ++q) {
          const int64_t ih = (q / ow) * p.stride_h + t.off_h, iw = (q % ow) * p.stride_w + t.off_w;
          src.push_back(ih >= 0 && ih < h && iw >= 0 && iw < w ? static_cast<int32_t>(ih * w + iw) : -1);
        }
      inv_start.assign(static_cast<size_t>(plane_in() + 1), 0);
      for (int32_t i : src)
        if (i >= 0) ++inv_start[static_cast<size_t>(i) + 1];
      for (size_t i = 1; i < inv_start.size(); ++i) inv_start[i] += inv_start[i - 1];
      inv_a.resize(static_cast<size_t>(inv_start.back()));
      inv_q.resize(inv_a.size());
      std::vector<int32_t> fill(inv_start.begin(), inv_start.end() - 1);
      for (size_t k = 0; k < src.size(); ++k) {
        if (src[k] < 0) continue;
        const size_t e = static_cast<size_t>(fill[static_cast<size_t>(src[k])]++);
        inv_a[e] = static_cast<int32_t>(static_cast<int64_t>(k) / plane_out());
        inv_q[e] = static_cast<int32_t>(static_cast<int64_t>(k) % plane_out());
      }
    }
  }
  bool table() const { return !src.empty(); }

  int64_t plane_in() const { return h * w; }
  int64_t plane_out() const { return oh * ow; }
  int64_t ntaps() const { return static_cast<int64_t>(taps.size()); }
  bool all_taps() const { return ntaps() == kh * kw; }
  int64_t rows() const { return c_in * ntaps(); }             // column-matrix rows, all groups
  int64_t rows_per_group() const { return rows() / p.groups; }  // GEMM depth of one group
  int64_t out_per_group() const { return c_out / p.groups; }
  // groups == C_in == C_out: one filter per channel, done by direct loops.
  bool depthwise() const { return p.groups == c_in && c_out == c_in; }
  // 1x1, stride 1, no padding: the input planes are already the column matrix.
  bool pointwise() const {
    return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
  // Stride 1 and an output row as long as an input row: output pixel q of a tap reads input
  // element q + (tap offset), so a tap's whole plane is one shifted range.
  bool same_rows() const { return p.stride_h == 1 && p.stride_w == 1 && ow == w; }
};

// Loops over fewer elements than this run on one thread: forking a team costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t(1) << 15;

// Byte budget of one chunk's column matrix (and of its output matrix): 64 MiB. A reference so
// tests can shrink it to exercise several chunks and a partial last chunk on small inputs.
int64_t& chunk_budget_bytes();

template <class T>
inline void zero_fill(T* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = T(0);
}

// The column row of one tap of one plane xp into d [P].
template <class T>
inline void im2col_tap(const ConvGeom& g, const Tap& t, const T* xp, T* d) {
  const int64_t ow = g.ow, P = g.plane_out();
  zero_fill(d, t.hlo * ow);
  zero_fill(d + t.hhi * ow, P - t.hhi * ow);
  if (g.same_rows()) {
    // d[q] = xp[q + delta] over the valid rows; the columns outside [lo, hi) wrap onto the
    // neighbouring row and are zeroed after the copy.
    const int64_t q0 = t.hlo * ow + t.lo, q1 = (t.hhi - 1) * ow + t.hi;
    const T* s = xp + q0 + t.off_h * g.w + t.off_w;
    T* dq = d + q0;
    for (int64_t q = 0; q < q1 - q0; ++q) dq[q] = s[q];
    for (int64_t r = t.hlo; r < t.hhi; ++r) {
      zero_fill(d + r * ow, t.lo);
      zero_fill(d + r * ow + t.hi, ow - t.hi);
    }
    return;
  }
  const int64_t sw = g.p.stride_w;
  for (int64_t r = t.hlo; r < t.hhi; ++r) {
    T* dr = d + r * ow;
    const T* xr = xp + (r * g.p.stride_h + t.off_h) * g.w + t.off_w;
    zero_fill(dr, t.lo);
    if (sw == 1) {
      for (int64_t o = t.lo; o < t.hi; ++o) dr[o] = xr[o];
    } else {
      for (int64_t o = t.lo; o < t.hi; ++o) dr[o] = xr[o * sw];
    }
    zero_fill(dr + t.hi, ow - t.hi);
  }
}

// x: B images [B, C_in, H, W] -> col [C_in T, B P] (zeros where a tap hits padding).
template <class T>
void im2col(const ConvGeom& g, const T* x, int64_t B, T* col, bool parallel) {
  const int64_t P = g.plane_out(), nt = g.ntaps();
  if (g.table()) {
#pragma omp parallel for schedule(static) if (parallel && g.rows() * B * P >= kMinParallelWork)
    for (int64_t c = 0; c < g.c_in; ++c) {
      for (int64_t a = 0; a < nt; ++a) {
        const int32_t* id = g.src.data() + a * P;
        T* d = col + (c * nt + a) * B * P;
        for (int64_t b = 0; b < B; ++b) {
          const T* xp = x + (b * g.c_in + c) * g.plane_in();
          for (int64_t q = 0; q < P; ++q) d[b * P + q] = id[q] >= 0 ? xp[id[q]] : T(0);
        }
      }
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (parallel && g.rows() * B * P >= kMinParallelWork)
  for (int64_t c = 0; c < g.c_in; ++c) {
    for (int64_t b = 0; b < B; ++b) {
      const T* xp = x + (b * g.c_in + c) * g.plane_in();
      for (int64_t a = 0; a < nt; ++a) im2col_tap(g, g.taps[a], xp, col + (c * nt + a) * B * P + b * P);
    }
  }
}

// The adjoint of im2col: dx[b, c] = sum over taps of the column rows scattered back onto the
// plane. One thread owns a whole (b, c) plane and adds its taps in a fixed order. In the
// same-rows geometry the wrapped elements of each column row are zeroed first (col is scratch),
// so a tap adds as one contiguous shifted range.
template <class T>
void col2im(const ConvGeom& g, T* col, int64_t B, T* dx, bool parallel) {
  const int64_t P = g.plane_out(), ow = g.ow;
  if (g.table()) {
#pragma omp parallel for schedule(static) if (parallel && g.rows() * B * P >= kMinParallelWork)
    for (int64_t c = 0; c < g.c_in; ++c) {
      // Gathered rather than scattered: each input pixel sums the entries that read it, in the
      // order a scatter would add them (no zero fill, one write per pixel).
      const T* cc = col + c * g.ntaps() * B * P;
      const int64_t BP = B * P;
      for (int64_t b = 0; b < B; ++b) {
        T* plane = dx + (b * g.c_in + c) * g.plane_in();
        const T* cb = cc + b * P;
        for (int64_t i = 0; i < g.plane_in(); ++i) {
          T sum = T(0);
          for (int32_t e = g.inv_start[i]; e < g.inv_start[i + 1]; ++e) sum += cb[g.inv_a[e] * BP + g.inv_q[e]];
          plane[i] = sum;
        }
      }
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (parallel && g.rows() * B * P >= kMinParallelWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < g.c_in; ++c) {
      T* plane = dx + (b * g.c_in + c) * g.plane_in();
      zero_fill(plane, g.plane_in());
      for (int64_t a = 0; a < g.ntaps(); ++a) {
        const Tap& t = g.taps[a];
        T* src = col + (c * g.ntaps() + a) * B * P + b * P;
        if (g.same_rows()) {
          for (int64_t rr = t.hlo; rr < t.hhi; ++rr) {
            zero_fill(src + rr * ow, t.lo);
            zero_fill(src + rr * ow + t.hi, ow - t.hi);
          }
          const int64_t q0 = t.hlo * ow + t.lo, q1 = (t.hhi - 1) * ow + t.hi;
          T* d = plane + q0 + t.off_h * g.w + t.off_w;
          const T* sq = src + q0;
          for (int64_t q = 0; q < q1 - q0; ++q) d[q] += sq[q];
          continue;
        }
        const int64_t sw = g.p.stride_w;
        for (int64_t rr = t.hlo; rr < t.hhi; ++rr) {
          T* xr = plane + (rr * g.p.stride_h + t.off_h) * g.w + t.off_w;
          const T* s = src + rr * ow;
          for (int64_t o = t.lo; o < t.hi; ++o) xr[o * sw] += s[o];
        }
      }
    }
  }
}

// src [B, C, P] -> dst [C, B P].
template <class T>
void to_channel_major(const T* src, int64_t B, int64_t C, int64_t P, T* dst, bool parallel) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel && B * C * P >= kMinParallelWork)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t b = 0; b < B; ++b) {
      const T* s = src + (b * C + c) * P;
      T* d = dst + (c * B + b) * P;
      for (int64_t q = 0; q < P; ++q) d[q] = s[q];
    }
}

// src [C, B P] -> dst [B, C, P], adding bias[c] when given.
template <class T>
void to_batch_major(const T* src, int64_t B, int64_t C, int64_t P, const T* bias, T* dst, bool parallel) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel && B * C * P >= kMinParallelWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      const T* s = src + (c * B + b) * P;
      T* d = dst + (b * C + c) * P;
      const T v = bias ? bias[c] : T(0);
      for (int64_t q = 0; q < P; ++q) d[q] = s[q] + v;
    }
  }
}

}  // namespace dybat::cpu::conv_detail
