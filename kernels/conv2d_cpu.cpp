// CPU convolution: im2col + OpenBLAS GEMM for dense and grouped convolutions, direct loops for
// depthwise ones; float32 and float64.
//
// Dense convolutions are parallel over the batch: each OpenMP thread takes a contiguous range of
// images and works through it in chunks of B images, building the chunk's column matrix
// [C_in kH kW, B P] in its own scratch and multiplying on one thread (gemm_1t). A chunk holds
// enough images for a GEMM about kTargetCols columns wide (B P), which keeps GEMMs efficient at
// the tiny planes of late stages (2x2 and 1x1 at crop 32) while the scratch stays cache-sized.
// Batches smaller than the thread pool instead run as one task whose copies and GEMMs are split
// over the threads (gemm_mt). The weight gradient of a thread's images goes into a private
// buffer (thread 0 adds straight into dweight), and the buffers are added in thread order, so
// results are bit-identical run to run for a given thread count. Memory stays bounded whatever
// the batch size (chunk_budget_bytes per chunk).
#include <omp.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_depthwise_cpu.h"
#include "kernels/gemm_cpu.h"
#include "kernels/im2col_cpu.h"

namespace dybat::cpu {

using conv_detail::ConvGeom;
using conv_detail::valid_range;
using namespace conv_detail::depthwise;

int64_t& conv_detail::chunk_budget_bytes() {
  static int64_t bytes = int64_t(64) << 20;
  return bytes;
}

namespace {

// GEMM width a chunk aims for (columns = images x output pixels).
constexpr int64_t kTargetCols = 1024;

// How a dense convolution's batch is split over threads (see the file comment).
struct ChunkPlan {
  int64_t tasks = 1;            // threads that each own a range of images
  int64_t chunk = 1;            // images per chunk
  bool inner_parallel = false;  // one task whose loops and GEMMs use every thread
  int64_t begin(int64_t t, int64_t n) const { return t * n / tasks; }
  int64_t end(int64_t t, int64_t n) const { return (t + 1) * n / tasks; }

  template <class F>
  void run(F&& task) const {
    if (tasks == 1) {
      task(int64_t(0));
      return;
    }
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(tasks))
    for (int64_t t = 0; t < tasks; ++t) task(t);
  }

  template <class T>
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
            int64_t ldb, T beta, T* c, int64_t ldc) const {
    if (inner_parallel)
      gemm_mt(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
      gemm_1t(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
};

ChunkPlan plan_chunks(const ConvGeom& g, size_t elem) {
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t P = g.plane_out();
  const int64_t per_image = std::max(g.rows(), g.c_out) * P * static_cast<int64_t>(elem);
  const int64_t budget_images = std::max<int64_t>(1, conv_detail::chunk_budget_bytes() / std::max<int64_t>(per_image, 1));
  ChunkPlan pl;
  if (threads > 1 && g.n >= threads) {
    pl.tasks = threads;
    const int64_t per_task = (g.n + threads - 1) / threads;
    pl.chunk = std::clamp<int64_t>((kTargetCols + P - 1) / P, 1, std::min(per_task, budget_images));
  } else if (threads > 1) {
    pl.inner_parallel = true;
    pl.chunk = std::min(g.n, budget_images);
  } else {
    pl.chunk = std::clamp<int64_t>((kTargetCols + P - 1) / P, 1, std::min(g.n, budget_images));
  }
  // Checked here, outside any parallel region (an exception must not leave an OpenMP thread).
  DYBAT_CHECK(std::max(g.rows(), g.c_out) <= INT_MAX && pl.chunk * P <= INT_MAX, "conv2d (cpu): a GEMM dimension of ",
              std::max({g.rows(), g.c_out, pl.chunk * P}), " exceeds the BLAS int range");
  return pl;
}

// Scratch from the caching allocator, so steady-state steps do not reach malloc.
template <class T>
T* scratch(Tensor& holder, int64_t elems) {
  if (elems == 0) return nullptr;
  holder = Tensor::empty({elems}, dtype_of<T>::value);
  return holder.template data<T>();
}

// The column matrix of images [b0, b0 + B): x itself for one image of a pointwise conv, else
// built in `buf`.
template <class T>
const T* columns(const ConvGeom& g, const T* x, int64_t b0, int64_t B, T* buf, bool parallel) {
  const T* xb = x + b0 * g.c_in * g.plane_in();
  if (g.pointwise()) {
    if (B == 1) return xb;
    conv_detail::to_channel_major(xb, B, g.c_in, g.plane_in(), buf, parallel);
  } else {
    conv_detail::im2col(g, xb, B, buf, parallel);
  }
  return buf;
}

// dout of images [b0, b0 + B) as [C_out, B P]: dout itself for one image, else transposed into buf.
template <class T>
const T* dout_matrix(const ConvGeom& g, const T* dout, int64_t b0, int64_t B, T* buf, bool parallel) {
  const T* db = dout + b0 * g.c_out * g.plane_out();
  if (B == 1) return db;
  conv_detail::to_channel_major(db, B, g.c_out, g.plane_out(), buf, parallel);
  return buf;
}

// ---- dense (im2col + GEMM) --------------------------------------------------------------------

// The weights of the live taps only, [C_out, C_in/groups T], when some taps see nothing but
// padding (see ConvGeom::taps); w itself otherwise.
template <class T>
const T* live_weights(const ConvGeom& g, const T* w, Tensor& hold) {
  if (g.all_taps()) return w;
  const int64_t cig = g.c_in / g.p.groups, nt = g.ntaps(), k = g.kh * g.kw;
  T* d = scratch<T>(hold, g.c_out * cig * nt);
  std::vector<int64_t> index(static_cast<size_t>(nt));
  for (int64_t a = 0; a < nt; ++a) index[a] = g.taps[a].index;
  // A strided gather over the whole weight (memory-bound): split over the threads when large.
#pragma omp parallel for schedule(static) if (g.c_out * cig * k >= conv_detail::kMinParallelWork * 8)
  for (int64_t oc = 0; oc < g.c_out * cig; ++oc)
    for (int64_t a = 0; a < nt; ++a) d[oc * nt + a] = w[oc * k + index[a]];
  return d;
}

// A 1x1 input seen through a single live tap (1x1 convs on 1x1 planes such as squeeze-excite
// convs, 3x3 convs at the end of a small-crop net) is a linear layer: out [N, C_out] =
// x [N, C_in] W^T per group, straight on the NCHW data, with no column matrix or transposes.
bool linear_case(const ConvGeom& g) { return g.plane_in() == 1 && g.plane_out() == 1 && g.ntaps() == 1; }

template <class T>
void linear_forward(const ConvGeom& g, const T* x, const T* w_all, const T* bias, T* out) {
  Tensor w_hold;
  const T* w = live_weights(g, w_all, w_hold);
  const int64_t cig = g.c_in / g.p.groups, cog = g.out_per_group();
  for (int64_t grp = 0; grp < g.p.groups; ++grp)
    gemm_mt(false, true, g.n, cog, cig, T(1), x + grp * cig, g.c_in, w + grp * cog * cig, cig, T(0), out + grp * cog,
            g.c_out);
  if (!bias) return;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c_out; ++c) out[n * g.c_out + c] += bias[c];
}

template <class T>
void linear_backward_input(const ConvGeom& g, const T* dout, const T* w_all, T* dx) {
  Tensor w_hold;
  const T* w = live_weights(g, w_all, w_hold);
  const int64_t cig = g.c_in / g.p.groups, cog = g.out_per_group();
  for (int64_t grp = 0; grp < g.p.groups; ++grp)
    gemm_mt(false, false, g.n, cig, cog, T(1), dout + grp * cog, g.c_out, w + grp * cog * cig, cig, T(0), dx + grp * cig,
            g.c_in);
}

// dW += dout^T x per group; with a dead-tap kernel the live tap's weights get the product.
template <class T>
void linear_backward_weight(const ConvGeom& g, const T* dout, const T* x, T* dw) {
  const int64_t cig = g.c_in / g.p.groups, cog = g.out_per_group(), k = g.kh * g.kw;
  Tensor hold;
  T* target = g.all_taps() ? dw : scratch<T>(hold, g.c_out * cig);
  const T beta = g.all_taps() ? T(1) : T(0);
  for (int64_t grp = 0; grp < g.p.groups; ++grp)
    gemm_mt(true, false, cog, cig, g.n, T(1), dout + grp * cog, g.c_out, x + grp * cig, g.c_in, beta,
            target + grp * cog * cig, cig);
  if (g.all_taps()) return;
  const int64_t tap = g.taps[0].index;
  for (int64_t oc = 0; oc < g.c_out * cig; ++oc) dw[oc * k + tap] += target[oc];
}

template <class T>
void dense_forward(const ConvGeom& g, const T* x, const T* w_all, const T* bias, T* out) {
  if (linear_case(g)) return linear_forward(g, x, w_all, bias, out);
  const ChunkPlan pl = plan_chunks(g, sizeof(T));
  Tensor w_hold;
  const T* w = live_weights(g, w_all, w_hold);
  const int64_t P = g.plane_out(), kg = g.rows_per_group(), cog = g.out_per_group();
  const int64_t col_elems = (g.pointwise() && pl.chunk == 1) ? 0 : g.rows() * pl.chunk * P;
  const int64_t y_elems = pl.chunk > 1 ? g.c_out * pl.chunk * P : 0;
  Tensor hold;
  T* buf = scratch<T>(hold, pl.tasks * (col_elems + y_elems));
  pl.run([&](int64_t t) {
    T* colbuf = buf ? buf + t * (col_elems + y_elems) : nullptr;
    T* ybuf = colbuf ? colbuf + col_elems : nullptr;
    const int64_t e = pl.end(t, g.n);
    for (int64_t b0 = pl.begin(t, g.n); b0 < e; b0 += pl.chunk) {
      const int64_t B = std::min(pl.chunk, e - b0), ncols = B * P;
      const T* col = columns(g, x, b0, B, colbuf, pl.inner_parallel);
      T* y = B == 1 ? out + b0 * g.c_out * P : ybuf;  // [C_out, B P]
      for (int64_t grp = 0; grp < g.p.groups; ++grp) {
        pl.gemm(false, false, cog, ncols, kg, T(1), w + grp * cog * kg, kg, col + grp * kg * ncols, ncols, T(0),
                y + grp * cog * ncols, ncols);
      }
      if (B > 1) {
        conv_detail::to_batch_major(y, B, g.c_out, P, bias, out + b0 * g.c_out * P, pl.inner_parallel);
      } else if (bias) {
#pragma omp parallel for schedule(static) if (pl.inner_parallel && g.c_out * P >= conv_detail::kMinParallelWork)
        for (int64_t c = 0; c < g.c_out; ++c)
          for (int64_t q = 0; q < P; ++q) y[c * P + q] += bias[c];
      }
    }
  });
}

// dcol = W^T dout per group, then col2im (or a transpose for pointwise convs).
template <class T>
void dense_backward_input(const ConvGeom& g, const T* dout, const T* w_all, T* dx) {
  if (linear_case(g)) return linear_backward_input(g, dout, w_all, dx);
  const ChunkPlan pl = plan_chunks(g, sizeof(T));
  Tensor w_hold;
  const T* w = live_weights(g, w_all, w_hold);
  const int64_t P = g.plane_out(), kg = g.rows_per_group(), cog = g.out_per_group();
  const int64_t col_elems = (g.pointwise() && pl.chunk == 1) ? 0 : g.rows() * pl.chunk * P;
  const int64_t d_elems = pl.chunk > 1 ? g.c_out * pl.chunk * P : 0;
  Tensor hold;
  T* buf = scratch<T>(hold, pl.tasks * (col_elems + d_elems));
  pl.run([&](int64_t t) {
    T* colbuf = buf ? buf + t * (col_elems + d_elems) : nullptr;
    T* dbuf = colbuf ? colbuf + col_elems : nullptr;
    const int64_t e = pl.end(t, g.n);
    for (int64_t b0 = pl.begin(t, g.n); b0 < e; b0 += pl.chunk) {
      const int64_t B = std::min(pl.chunk, e - b0), ncols = B * P;
      const T* dm = dout_matrix(g, dout, b0, B, dbuf, pl.inner_parallel);
      T* dxb = dx + b0 * g.c_in * g.plane_in();
      T* dcol = (g.pointwise() && B == 1) ? dxb : colbuf;  // [C_in kH kW, B P]
      for (int64_t grp = 0; grp < g.p.groups; ++grp) {
        pl.gemm(true, false, kg, ncols, cog, T(1), w + grp * cog * kg, kg, dm + grp * cog * ncols, ncols, T(0),
                dcol + grp * kg * ncols, ncols);
      }
      if (!g.pointwise())
        conv_detail::col2im(g, dcol, B, dxb, pl.inner_parallel);
      else if (B > 1)
        conv_detail::to_batch_major<T>(dcol, B, g.c_in, P, nullptr, dxb, pl.inner_parallel);
    }
  });
}

// dW += dout col^T per group, chunk after chunk. Thread 0 adds straight into dW (beta = 1) when
// every tap is live; the other threads (and thread 0 when the weights are compacted) fill private
// buffers, which are then added into dW in thread order.
template <class T>
void dense_backward_weight(const ConvGeom& g, const T* dout, const T* x, T* dw) {
  if (linear_case(g)) return linear_backward_weight(g, dout, x, dw);
  const ChunkPlan pl = plan_chunks(g, sizeof(T));
  const int64_t P = g.plane_out(), kg = g.rows_per_group(), cog = g.out_per_group();
  const int64_t col_elems = (g.pointwise() && pl.chunk == 1) ? 0 : g.rows() * pl.chunk * P;
  const int64_t d_elems = pl.chunk > 1 ? g.c_out * pl.chunk * P : 0;
  const int64_t w_elems = g.c_out * kg;  // [C_out, C_in/groups T]
  const bool direct = g.all_taps();      // thread 0 may add into dW itself
  const bool private_buffers = pl.tasks > 1 || !direct;
  const int64_t per_task = col_elems + d_elems + (private_buffers ? w_elems : 0);
  Tensor hold;
  T* buf = scratch<T>(hold, pl.tasks * per_task);
  auto partial = [&](int64_t t) { return buf + t * per_task + col_elems + d_elems; };
  pl.run([&](int64_t t) {
    T* colbuf = buf ? buf + t * per_task : nullptr;
    T* dbuf = colbuf ? colbuf + col_elems : nullptr;
    const bool into_dw = direct && t == 0;
    T* target = into_dw ? dw : partial(t);
    T beta = into_dw ? T(1) : T(0);
    const int64_t e = pl.end(t, g.n);
    for (int64_t b0 = pl.begin(t, g.n); b0 < e; b0 += pl.chunk) {
      const int64_t B = std::min(pl.chunk, e - b0), ncols = B * P;
      const T* col = columns(g, x, b0, B, colbuf, pl.inner_parallel);
      const T* dm = dout_matrix(g, dout, b0, B, dbuf, pl.inner_parallel);
      for (int64_t grp = 0; grp < g.p.groups; ++grp) {
        pl.gemm(false, true, cog, kg, ncols, T(1), dm + grp * cog * ncols, ncols, col + grp * kg * ncols, ncols, beta,
                target + grp * cog * kg, kg);
      }
      beta = T(1);
    }
  });
  if (!private_buffers) return;
  const int64_t first = direct ? 1 : 0, nt = g.ntaps(), k = g.kh * g.kw;
  // Element (oc, a) of the compact layout is weight oc k + taps[a].index of the full one.
#pragma omp parallel for schedule(static) if (w_elems * pl.tasks >= conv_detail::kMinParallelWork)
  for (int64_t oc = 0; oc < w_elems / std::max<int64_t>(nt, 1); ++oc) {
    for (int64_t a = 0; a < nt; ++a) {
      const int64_t i = oc * nt + a;
      T s = partial(first)[i];
      for (int64_t t = first + 1; t < pl.tasks; ++t) s += partial(t)[i];
      dw[direct ? i : oc * k + g.taps[a].index] += s;
    }
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
