// CPU depthwise convolution (groups == C_in == C_out): direct loops, float32 and float64; a part
// of the CPU conv2d kernel (conv2d_cpu.cpp), in its own file for length.
//
// Channel c of the output sees only channel c of the input through its own kH x kW filter; every
// (n, c) plane is one task, owned by one thread. Small planes (P <= kDepthwiseTablePlane, the late
// stages of a net) go through per-pixel lists built once per call: output pixel q sums w[tap] x[i]
// over its live (tap, i) pairs, and input pixel i of dx gathers the (tap, q) pairs that read it,
// in tap order. Larger planes walk the live taps in the outer position and a contiguous output
// row inside. The weight gradient sums dout x over images and pixels in eight double lanes, per
// channel (images in order), so float32 weights get an accurate and reproducible sum.
#pragma once

#include <omp.h>

#include <cstdint>
#include <vector>

#include "kernels/im2col_cpu.h"
#include "kernels/lane_sum_cpu.h"

namespace dybat::cpu::conv_detail::depthwise {

// Per-pixel lists of a small plane (see above), from ConvGeom's src table.
struct DwLists {
  std::vector<int32_t> out_start, out_tap, out_src;  // for output pixel q: (tap index, input pixel)
  explicit DwLists(const ConvGeom& g) {
    const int64_t P = g.plane_out(), nt = g.ntaps();
    out_start.assign(static_cast<size_t>(P + 1), 0);
    for (int64_t q = 0; q < P; ++q) {
      for (int64_t a = 0; a < nt; ++a) {
        const int32_t i = g.src[static_cast<size_t>(a * P + q)];
        if (i < 0) continue;
        out_tap.push_back(static_cast<int32_t>(g.taps[static_cast<size_t>(a)].index));
        out_src.push_back(i);
      }
      out_start[static_cast<size_t>(q + 1)] = static_cast<int32_t>(out_tap.size());
    }
  }
};

inline bool dw_parallel(const ConvGeom& g) {
  return g.n * g.c_in * g.plane_out() * g.ntaps() >= conv_detail::kMinParallelWork;
}

template <class T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* out) {
  const int64_t C = g.c_in, P = g.plane_out(), K = g.kh * g.kw, sw = g.p.stride_w, planes = g.n * C;
  if (g.table()) {
    const DwLists L(g);
#pragma omp parallel for schedule(static) if (dw_parallel(g))
    for (int64_t pl = 0; pl < planes; ++pl) {
      const int64_t c = pl % C;
      const T* xp = x + pl * g.plane_in();
      const T* wc = w + c * K;
      T* op = out + pl * P;
      const T b = bias ? bias[c] : T(0);
      for (int64_t q = 0; q < P; ++q) {
        T s = b;
        for (int32_t e = L.out_start[q]; e < L.out_start[q + 1]; ++e) s += wc[L.out_tap[e]] * xp[L.out_src[e]];
        op[q] = s;
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (dw_parallel(g))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t c = pl % C;
    const T* xp = x + pl * g.plane_in();
    const T* wc = w + c * K;
    T* op = out + pl * P;
    const T b = bias ? bias[c] : T(0);
    for (int64_t q = 0; q < P; ++q) op[q] = b;
    for (const conv_detail::Tap& t : g.taps) {
      const T wv = wc[t.index];
      for (int64_t oh = t.hlo; oh < t.hhi; ++oh) {
        const T* xr = xp + (oh * g.p.stride_h + t.off_h) * g.w + t.off_w;
        T* orow = op + oh * g.ow;
        if (sw == 1)
          for (int64_t o = t.lo; o < t.hi; ++o) orow[o] += wv * xr[o];
        else
          for (int64_t o = t.lo; o < t.hi; ++o) orow[o] += wv * xr[o * sw];
      }
    }
  }
}

template <class T>
void depthwise_backward_input(const ConvGeom& g, const T* dout, const T* w, T* dx) {
  const int64_t C = g.c_in, P = g.plane_out(), K = g.kh * g.kw, sw = g.p.stride_w, planes = g.n * C;
  if (g.table()) {
#pragma omp parallel for schedule(static) if (dw_parallel(g))
    for (int64_t pl = 0; pl < planes; ++pl) {
      const int64_t c = pl % C;
      const T* dp = dout + pl * P;
      const T* wc = w + c * K;
      T* xp = dx + pl * g.plane_in();
      for (int64_t i = 0; i < g.plane_in(); ++i) {
        T s = T(0);
        for (int32_t e = g.inv_start[i]; e < g.inv_start[i + 1]; ++e)
          s += wc[g.taps[static_cast<size_t>(g.inv_a[e])].index] * dp[g.inv_q[e]];
        xp[i] = s;
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (dw_parallel(g))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t c = pl % C;
    const T* dp = dout + pl * P;
    const T* wc = w + c * K;
    T* xp = dx + pl * g.plane_in();
    for (int64_t i = 0; i < g.plane_in(); ++i) xp[i] = T(0);
    for (const conv_detail::Tap& t : g.taps) {
      const T wv = wc[t.index];
      for (int64_t oh = t.hlo; oh < t.hhi; ++oh) {
        T* xr = xp + (oh * g.p.stride_h + t.off_h) * g.w + t.off_w;
        const T* drow = dp + oh * g.ow;
        if (sw == 1)
          for (int64_t o = t.lo; o < t.hi; ++o) xr[o] += wv * drow[o];
        else
          for (int64_t o = t.lo; o < t.hi; ++o) xr[o * sw] += wv * drow[o];
      }
    }
  }
}

template <class T>
void depthwise_backward_weight(const ConvGeom& g, const T* dout, const T* x, T* dw) {
  const int64_t C = g.c_in, P = g.plane_out(), K = g.kh * g.kw, nt = g.ntaps(), sw = g.p.stride_w;
#pragma omp parallel for schedule(static) if (dw_parallel(g))
  for (int64_t c = 0; c < C; ++c) {
    std::vector<LaneSum> acc(static_cast<size_t>(nt));  // one per live tap
    for (int64_t n = 0; n < g.n; ++n) {
      const T* xp = x + (n * C + c) * g.plane_in();
      const T* dp = dout + (n * C + c) * P;
      for (int64_t a = 0; a < nt; ++a) {
        LaneSum& la = acc[static_cast<size_t>(a)];
        if (g.table()) {
          const int32_t* id = g.src.data() + a * P;
          for (int64_t q = 0; q < P; ++q)
            if (id[q] >= 0) la.add_at(q, static_cast<double>(dp[q]) * static_cast<double>(xp[id[q]]));
          continue;
        }
        const conv_detail::Tap& t = g.taps[static_cast<size_t>(a)];
        for (int64_t oh = t.hlo; oh < t.hhi; ++oh) {
          const T* xr = xp + (oh * g.p.stride_h + t.off_h) * g.w + t.off_w;
          const T *d = dp + oh * g.ow + t.lo, *xs = xr + t.lo * sw;  // d contiguous, x at stride sw
          la.add(t.hi - t.lo,
                 [&](int64_t i) { return static_cast<double>(d[i]) * static_cast<double>(xs[i * sw]); });
        }
      }
    }
    T* wc = dw + c * K;
    for (int64_t a = 0; a < nt; ++a)
      wc[g.taps[static_cast<size_t>(a)].index] += static_cast<T>(acc[static_cast<size_t>(a)].total());
  }
}

}  // namespace dybat::cpu::conv_detail::depthwise
