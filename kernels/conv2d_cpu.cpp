// CPU convolution: im2col + OpenBLAS GEMM for dense and grouped convolutions, direct loops for
// depthwise ones; float32 and float64.
//
// The batch is processed in chunks of B images whose column matrix stays under a fixed byte budget,
// so memory is bounded whatever the batch size. One GEMM per group covers a whole chunk
// (columns = B H_out W_out), which keeps GEMMs large even for small spatial sizes (late stages of
// a net, 1x1 squeeze-excite convs). The GEMMs are called outside OpenMP regions, so OpenBLAS can
// use its own threads; the copies around them (im2col, col2im, transposes) are OpenMP loops.
// Reduction orders depend only on the shapes, never on timing, so results are bit-identical run
// to run for a given thread count.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "core/dispatch.h"
#include "kernels/conv2d.h"
#include "kernels/im2col_cpu.h"

namespace dybat::cpu {

using conv_detail::ConvGeom;
using conv_detail::valid_range;

int64_t& conv_detail::chunk_budget_bytes() {
  static int64_t bytes = int64_t(64) << 20;
  return bytes;
}

namespace {

void check_blas_dim(int64_t v) {
  DYBAT_CHECK(v <= INT_MAX, "conv2d (cpu): a GEMM dimension of ", v, " exceeds the BLAS int range");
}

// Row-major C = alpha op(A) op(B) + beta C, with op(A) [m, k] and op(B) [k, n].
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
              beta, c, static_cast<int>(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
              beta, c, static_cast<int>(ldc));
}

// Images per chunk: as many as fit the budget in the larger of the column and output matrices.
int64_t chunk_images(const ConvGeom& g, size_t elem) {
  int64_t per_image = std::max(g.rows(), g.c_out) * g.plane_out() * static_cast<int64_t>(elem);
  int64_t b = std::clamp<int64_t>(conv_detail::chunk_budget_bytes() / std::max<int64_t>(per_image, 1), 1, g.n);
  check_blas_dim(std::max(g.rows(), g.c_out));
  check_blas_dim(b * g.plane_out());
  return b;
}

// Scratch for one chunk; from the caching allocator so steady-state steps do not hit malloc.
template <class T>
T* scratch(Tensor& holder, int64_t elems) {
  holder = Tensor::empty({elems}, dtype_of<T>::value);
  return holder.template data<T>();
}

// The column matrix of images [b0, b0 + B): x itself for one image of a pointwise conv, else
// built in `buf`.
template <class T>
const T* columns(const ConvGeom& g, const T* x, int64_t b0, int64_t B, T* buf) {
  const T* xb = x + b0 * g.c_in * g.plane_in();
  if (g.pointwise()) {
    if (B == 1) return xb;
    conv_detail::to_channel_major(xb, B, g.c_in, g.plane_in(), buf);
  } else {
    conv_detail::im2col(g, xb, B, buf);
  }
  return buf;
}

// dout of images [b0, b0 + B) as [C_out, B P]: dout itself for one image, else transposed into buf.
template <class T>
const T* dout_matrix(const ConvGeom& g, const T* dout, int64_t b0, int64_t B, T* buf) {
  const T* db = dout + b0 * g.c_out * g.plane_out();
  if (B == 1) return db;
  conv_detail::to_channel_major(db, B, g.c_out, g.plane_out(), buf);
  return buf;
}

// ---- dense (im2col + GEMM) --------------------------------------------------------------------

template <class T>
void dense_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* out) {
  const int64_t P = g.plane_out(), kg = g.rows_per_group(), cog = g.out_per_group();
  const int64_t chunk = chunk_images(g, sizeof(T));
  Tensor col_hold, y_hold;
  T* colbuf = (g.pointwise() && chunk == 1) ? nullptr : scratch<T>(col_hold, g.rows() * chunk * P);
  T* ybuf = chunk > 1 ? scratch<T>(y_hold, g.c_out * chunk * P) : nullptr;
  for (int64_t b0 = 0; b0 < g.n; b0 += chunk) {
    const int64_t B = std::min(chunk, g.n - b0), ncols = B * P;
    const T* col = columns(g, x, b0, B, colbuf);
    T* y = B == 1 ? out + b0 * g.c_out * P : ybuf;  // [C_out, B P]
    for (int64_t grp = 0; grp < g.p.groups; ++grp) {
      gemm(false, false, cog, ncols, kg, T(1), w + grp * cog * kg, kg, col + grp * kg * ncols, ncols, T(0),
           y + grp * cog * ncols, ncols);
    }
    if (B > 1) {
      conv_detail::to_batch_major(y, B, g.c_out, P, bias, out + b0 * g.c_out * P);
    } else if (bias) {
#pragma omp parallel for schedule(static) if (g.c_out * P >= conv_detail::kMinParallelWork)
      for (int64_t c = 0; c < g.c_out; ++c)
        for (int64_t q = 0; q < P; ++q) y[c * P + q] += bias[c];
    }
  }
}

// dcol = W^T dout per group, then col2im (or a transpose for pointwise convs).
template <class T>
void dense_backward_input(const ConvGeom& g, const T* dout, const T* w, T* dx) {
  const int64_t P = g.plane_out(), kg = g.rows_per_group(), cog = g.out_per_group();
  const int64_t chunk = chunk_images(g, sizeof(T));
  Tensor col_hold, d_hold;
  T* colbuf = (g.pointwise() && chunk == 1) ? nullptr : scratch<T>(col_hold, g.rows() * chunk * P);
  T* dbuf = chunk > 1 ? scratch<T>(d_hold, g.c_out * chunk * P) : nullptr;
  for (int64_t b0 = 0; b0 < g.n; b0 += chunk) {
    const int64_t B = std::min(chunk, g.n - b0), ncols = B * P;
    const T* dm = dout_matrix(g, dout, b0, B, dbuf);
    T* dxb = dx + b0 * g.c_in * g.plane_in();
    T* dcol = (g.pointwise() && B == 1) ? dxb : colbuf;  // [C_in kH kW, B P]
    for (int64_t grp = 0; grp < g.p.groups; ++grp) {
      gemm(true, false, kg, ncols, cog, T(1), w + grp * cog * kg, kg, dm + grp * cog * ncols, ncols, T(0),
           dcol + grp * kg * ncols, ncols);
    }
    if (!g.pointwise())
      conv_detail::col2im(g, dcol, B, dxb);
    else if (B > 1)
      conv_detail::to_batch_major<T>(dcol, B, g.c_in, P, nullptr, dxb);
  }
}

// dW += dout col^T per group, chunk after chunk (beta = 1 adds into the existing gradient).
template <class T>
void dense_backward_weight(const ConvGeom& g, const T* dout, const T* x, T* dw) {
  const int64_t P = g.plane_out(), kg = g.rows_per_group(), cog = g.out_per_group();
  const int64_t chunk = chunk_images(g, sizeof(T));
  Tensor col_hold, d_hold;
  T* colbuf = (g.pointwise() && chunk == 1) ? nullptr : scratch<T>(col_hold, g.rows() * chunk * P);
  T* dbuf = chunk > 1 ? scratch<T>(d_hold, g.c_out * chunk * P) : nullptr;
  for (int64_t b0 = 0; b0 < g.n; b0 += chunk) {
    const int64_t B = std::min(chunk, g.n - b0), ncols = B * P;
    const T* col = columns(g, x, b0, B, colbuf);
    const T* dm = dout_matrix(g, dout, b0, B, dbuf);
    for (int64_t grp = 0; grp < g.p.groups; ++grp) {
      gemm(false, true, cog, kg, ncols, T(1), dm + grp * cog * ncols, ncols, col + grp * kg * ncols, ncols, T(1),
           dw + grp * cog * kg, kg);
    }
  }
}

// ---- depthwise (direct loops) -----------------------------------------------------------------
// Channel c of the output sees only channel c of the input through its own kH x kW filter. Each
// loop walks the kernel taps in the outer position and the output plane inside, so the inner loop
// runs along a contiguous output row; every element is owned by one thread.

template <class T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* out) {
  const int64_t C = g.c_in, sw = g.p.stride_w;
  const bool parallel = g.n * C * g.plane_out() * g.kh * g.kw >= conv_detail::kMinParallelWork;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const T* xp = x + (n * C + c) * g.plane_in();
      const T* wc = w + c * g.kh * g.kw;
      T* op = out + (n * C + c) * g.plane_out();
      std::fill(op, op + g.plane_out(), bias ? bias[c] : T(0));
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const T wv = wc[i * g.kw + j];
          const int64_t off_h = i * g.p.dil_h - g.p.pad_h, off_w = j * g.p.dil_w - g.p.pad_w;
          int64_t lo, hi;
          valid_range(off_w, sw, g.w, g.ow, lo, hi);
          for (int64_t oh = 0; oh < g.oh; ++oh) {
            const int64_t ih = oh * g.p.stride_h + off_h;
            if (ih < 0 || ih >= g.h) continue;
            const T* xr = xp + ih * g.w + off_w;
            T* orow = op + oh * g.ow;
            for (int64_t o = lo; o < hi; ++o) orow[o] += wv * xr[o * sw];
          }
        }
      }
    }
  }
}

template <class T>
void depthwise_backward_input(const ConvGeom& g, const T* dout, const T* w, T* dx) {
  const int64_t C = g.c_in, sw = g.p.stride_w;
  const bool parallel = g.n * C * g.plane_out() * g.kh * g.kw >= conv_detail::kMinParallelWork;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const T* dp = dout + (n * C + c) * g.plane_out();
      const T* wc = w + c * g.kh * g.kw;
      T* xp = dx + (n * C + c) * g.plane_in();
      std::fill(xp, xp + g.plane_in(), T(0));
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const T wv = wc[i * g.kw + j];
          const int64_t off_h = i * g.p.dil_h - g.p.pad_h, off_w = j * g.p.dil_w - g.p.pad_w;
          int64_t lo, hi;
          valid_range(off_w, sw, g.w, g.ow, lo, hi);
          for (int64_t oh = 0; oh < g.oh; ++oh) {
            const int64_t ih = oh * g.p.stride_h + off_h;
            if (ih < 0 || ih >= g.h) continue;
            T* xr = xp + ih * g.w + off_w;
            const T* drow = dp + oh * g.ow;
            for (int64_t o = lo; o < hi; ++o) xr[o * sw] += wv * drow[o];
          }
        }
      }
    }
  }
}

// dw[c, i, j] += sum over n, oh, ow of dout * x, accumulated in double per channel (images in
// order), so float32 weights get an accurate and reproducible sum.
template <class T>
void depthwise_backward_weight(const ConvGeom& g, const T* dout, const T* x, T* dw) {
  const int64_t C = g.c_in, sw = g.p.stride_w, taps = g.kh * g.kw;
  const bool parallel = g.n * C * g.plane_out() * taps >= conv_detail::kMinParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < C; ++c) {
    std::vector<double> acc(static_cast<size_t>(taps), 0.0);
    for (int64_t n = 0; n < g.n; ++n) {
      const T* xp = x + (n * C + c) * g.plane_in();
      const T* dp = dout + (n * C + c) * g.plane_out();
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t off_h = i * g.p.dil_h - g.p.pad_h, off_w = j * g.p.dil_w - g.p.pad_w;
          int64_t lo, hi;
          valid_range(off_w, sw, g.w, g.ow, lo, hi);
          double s = 0.0;
          for (int64_t oh = 0; oh < g.oh; ++oh) {
            const int64_t ih = oh * g.p.stride_h + off_h;
            if (ih < 0 || ih >= g.h) continue;
            const T* xr = xp + ih * g.w + off_w;
            const T* drow = dp + oh * g.ow;
            for (int64_t o = lo; o < hi; ++o) s += static_cast<double>(drow[o]) * static_cast<double>(xr[o * sw]);
          }
          acc[static_cast<size_t>(i * g.kw + j)] += s;
        }
      }
    }
    T* wc = dw + c * taps;
    for (int64_t t = 0; t < taps; ++t) wc[t] += static_cast<T>(acc[static_cast<size_t>(t)]);
  }
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                    const Tensor& out) {
  const ConvGeom g(x, weight, out, p);
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    if (g.depthwise())
      depthwise_forward(g, x.data<T>(), weight.data<T>(), pb, out.data<T>());
    else
      dense_forward(g, x.data<T>(), weight.data<T>(), pb, out.data<T>());
  });
}

void conv2d_backward_input(const Tensor& dout, const Tensor& weight, const Conv2dParams& p, const Tensor& dx) {
  const ConvGeom g(dx, weight, dout, p);  // dout has the output's shape
  dispatch_float(dx.dtype(), "conv2d backward (input)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    if (g.depthwise())
      depthwise_backward_input(g, dout.data<T>(), weight.data<T>(), dx.data<T>());
    else
      dense_backward_input(g, dout.data<T>(), weight.data<T>(), dx.data<T>());
  });
}

void conv2d_backward_weight(const Tensor& dout, const Tensor& x, const Conv2dParams& p, const Tensor& dweight) {
  const ConvGeom g(x, dweight, dout, p);
  dispatch_float(x.dtype(), "conv2d backward (weight)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    if (g.depthwise())
      depthwise_backward_weight(g, dout.data<T>(), x.data<T>(), dweight.data<T>());
    else
      dense_backward_weight(g, dout.data<T>(), x.data<T>(), dweight.data<T>());
  });
}

// dbias[c] += sum over n and the output plane, in double, images in order.
void conv2d_backward_bias(const Tensor& dout, const Tensor& dbias) {
  const int64_t N = dout.size(0), C = dout.size(1), P = dout.size(2) * dout.size(3);
  dispatch_float(dout.dtype(), "conv2d backward (bias)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* d = dout.data<T>();
    T* db = dbias.data<T>();
#pragma omp parallel for schedule(static) if (N * C * P >= conv_detail::kMinParallelWork)
    for (int64_t c = 0; c < C; ++c) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        const T* row = d + (n * C + c) * P;
        for (int64_t q = 0; q < P; ++q) acc += static_cast<double>(row[q]);
      }
      db[c] += static_cast<T>(acc);
    }
  });
}

}  // namespace dybat::cpu
