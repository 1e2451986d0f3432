// CPU building blocks of the GEMM convolution: the geometry of one convolution, im2col / col2im
// over a chunk of images, and the [B, C, P] <-> [C, B*P] transposes that let one GEMM cover a chunk.
//
// Column layout. For a chunk of B images the column matrix is [C_in kH kW, B P] (P = H_out W_out):
// row r = (c kH + i) kW + j is input channel c seen through kernel tap (i, j), and column
// b P + oh W_out + ow is output pixel (oh, ow) of image b, holding
//   x[b, c, oh s_h - pad_h + i dil_h, ow s_w - pad_w + j dil_w]   (0 outside the image).
// Then out = W [C_out, C_in kH kW] x col, per group on the matching row blocks.
//
// All loops are OpenMP-parallel over independent rows or planes with static schedules, and every
// output element is written by one thread in a fixed order, so results are bit-identical run to run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/conv2d.h"

namespace dybat::cpu::conv_detail {

struct ConvGeom {
  int64_t n = 0, c_in = 0, h = 0, w = 0;  // input [N, C_in, H, W]
  int64_t c_out = 0, kh = 0, kw = 0;      // weight [C_out, C_in/groups, kH, kW]
  int64_t oh = 0, ow = 0;                 // output [N, C_out, H_out, W_out]
  Conv2dParams p;

  ConvGeom(const Tensor& x, const Tensor& weight, const Tensor& out, const Conv2dParams& params)
      : n(x.size(0)), c_in(x.size(1)), h(x.size(2)), w(x.size(3)), c_out(weight.size(0)), kh(weight.size(2)),
        kw(weight.size(3)), oh(out.size(2)), ow(out.size(3)), p(params) {}

  int64_t plane_in() const { return h * w; }
  int64_t plane_out() const { return oh * ow; }
  int64_t rows() const { return c_in * kh * kw; }             // column-matrix rows, all groups
  int64_t rows_per_group() const { return rows() / p.groups; }  // GEMM depth of one group
  int64_t out_per_group() const { return c_out / p.groups; }
  // groups == C_in == C_out: one filter per channel, done by direct loops.
  bool depthwise() const { return p.groups == c_in && c_out == c_in; }
  // 1x1, stride 1, no padding: the input planes are already the column matrix.
  bool pointwise() const {
    return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
};

// Loops over fewer elements than this run on one thread: forking a team costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t(1) << 15;

// Byte budget of one chunk's column matrix (and of its output matrix): 64 MiB. A reference so
// tests can shrink it to exercise several chunks and a partial last chunk on small inputs.
int64_t& chunk_budget_bytes();

// The outputs o in [0, n_out) whose input coordinate o s + off lies inside [0, n_in): [lo, hi).
inline void valid_range(int64_t off, int64_t s, int64_t n_in, int64_t n_out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = n_in - off > 0 ? (n_in - off + s - 1) / s : 0;
  lo = std::min(lo, n_out);
  hi = std::clamp(hi, lo, n_out);
}

// x: B images [B, C_in, H, W] -> col [C_in kH kW, B P] (zeros where the kernel hits padding).
template <class T>
void im2col(const ConvGeom& g, const T* x, int64_t B, T* col) {
  const int64_t rows = g.rows(), P = g.plane_out(), taps = g.kh * g.kw;
#pragma omp parallel for collapse(2) schedule(static) if (rows * B * P >= kMinParallelWork)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t c = r / taps, i = (r / g.kw) % g.kh, j = r % g.kw;
      const int64_t off_h = i * g.p.dil_h - g.p.pad_h, off_w = j * g.p.dil_w - g.p.pad_w;
      const int64_t sw = g.p.stride_w;
      int64_t lo, hi;
      valid_range(off_w, sw, g.w, g.ow, lo, hi);
      const T* xp = x + (b * g.c_in + c) * g.plane_in();
      T* dst = col + r * B * P + b * P;
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        T* d = dst + oh * g.ow;
        const int64_t ih = oh * g.p.stride_h + off_h;
        if (ih < 0 || ih >= g.h) {
          std::fill(d, d + g.ow, T(0));
          continue;
        }
        const T* xr = xp + ih * g.w + off_w;
        std::fill(d, d + lo, T(0));
        if (sw == 1) {
          std::memcpy(d + lo, xr + lo, static_cast<size_t>(hi - lo) * sizeof(T));
        } else {
          for (int64_t o = lo; o < hi; ++o) d[o] = xr[o * sw];
        }
        std::fill(d + hi, d + g.ow, T(0));
      }
    }
  }
}

// The adjoint of im2col: dx[b, c] = sum over taps of the column rows scattered back onto the
// plane. One thread owns a whole (b, c) plane and adds its taps in a fixed order.
template <class T>
void col2im(const ConvGeom& g, const T* col, int64_t B, T* dx) {
  const int64_t P = g.plane_out();
#pragma omp parallel for collapse(2) schedule(static) if (g.rows() * B * P >= kMinParallelWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < g.c_in; ++c) {
      T* plane = dx + (b * g.c_in + c) * g.plane_in();
      std::fill(plane, plane + g.plane_in(), T(0));
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t r = (c * g.kh + i) * g.kw + j;
          const int64_t off_h = i * g.p.dil_h - g.p.pad_h, off_w = j * g.p.dil_w - g.p.pad_w;
          const int64_t sw = g.p.stride_w;
          int64_t lo, hi;
          valid_range(off_w, sw, g.w, g.ow, lo, hi);
          const T* src = col + r * B * P + b * P;
          for (int64_t oh = 0; oh < g.oh; ++oh) {
            const int64_t ih = oh * g.p.stride_h + off_h;
            if (ih < 0 || ih >= g.h) continue;
            T* xr = plane + ih * g.w + off_w;
            const T* s = src + oh * g.ow;
            for (int64_t o = lo; o < hi; ++o) xr[o * sw] += s[o];
          }
        }
      }
    }
  }
}

// src [B, C, P] -> dst [C, B P].
template <class T>
void to_channel_major(const T* src, int64_t B, int64_t C, int64_t P, T* dst) {
#pragma omp parallel for collapse(2) schedule(static) if (B * C * P >= kMinParallelWork)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t b = 0; b < B; ++b)
      std::memcpy(dst + (c * B + b) * P, src + (b * C + c) * P, static_cast<size_t>(P) * sizeof(T));
}

// src [C, B P] -> dst [B, C, P], adding bias[c] when given.
template <class T>
void to_batch_major(const T* src, int64_t B, int64_t C, int64_t P, const T* bias, T* dst) {
#pragma omp parallel for collapse(2) schedule(static) if (B * C * P >= kMinParallelWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      const T* s = src + (c * B + b) * P;
      T* d = dst + (b * C + c) * P;
      if (bias) {
        const T v = bias[c];
        for (int64_t q = 0; q < P; ++q) d[q] = s[q] + v;
      } else {
        std::memcpy(d, s, static_cast<size_t>(P) * sizeof(T));
      }
    }
  }
}

}  // namespace dybat::cpu::conv_detail
