// CPU pooling loops: one (n, c) plane per OpenMP iteration (static schedule), so each element is
// written by one thread in a fixed order and results are bit-identical run to run. Averages are
// summed in double.
#include <algorithm>
#include <limits>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/pool.h"
#include "kernels/pool_math.h"

namespace dybat::cpu {

namespace {
// Loops over fewer elements than this run on one thread: forking a team costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t(1) << 15;
}  // namespace

// Per plane, the window cells are visited tap by tap in row-major order (kernel row i, column j)
// with the output row inside, so the inner loop runs along outputs and the max and argmax are
// branch-free selects. Each output sees its real cells in row-major order, exactly the scan rule
// of max_pool_takes; padded cells are skipped (they are -inf and never win), and the argmax starts
// at the window's first real cell.
void max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out, const Tensor& argmax) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = out.size(2), OW = out.size(3), sw = p.stride_w;
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    int64_t* pa = argmax.data<int64_t>();
#pragma omp parallel for schedule(static) if (planes * OH * OW * p.kernel_h * p.kernel_w >= kMinParallelWork)
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = px + pl * H * W;
      T* op = po + pl * OH * OW;
      int64_t* ap = pa + pl * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const PoolWindow wh = pool_window(oh, p.kernel_h, p.stride_h, p.pad_h, H);
        T* orow = op + oh * OW;
        int64_t* arow = ap + oh * OW;
        for (int64_t ow = 0; ow < OW; ++ow) {
          orow[ow] = -std::numeric_limits<T>::infinity();
          arow[ow] = wh.lo * W + pool_window(ow, p.kernel_w, p.stride_w, p.pad_w, W).lo;
        }
        for (int64_t h = wh.lo; h < wh.hi; ++h) {
          const T* xr = xp + h * W;
          for (int64_t j = 0; j < p.kernel_w; ++j) {
            // Outputs ow whose column ow s - pad + j is a real cell: [lo, hi).
            const int64_t off = j - p.pad_w;
            const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
            const int64_t hi = std::min<int64_t>(OW, W - off > 0 ? (W - off + sw - 1) / sw : 0);
            for (int64_t ow = lo; ow < hi; ++ow) {
              const int64_t w = ow * sw + off;
              const T v = xr[w];
              const bool take = max_pool_takes(v, orow[ow]);
              orow[ow] = take ? v : orow[ow];
              arow[ow] = take ? h * W + w : arow[ow];
            }
          }
        }
      }
    }
  });
}

// dx[argmax] += dout: windows may overlap (stride < kernel), so a cell can collect several.
void max_pool2d_backward(const Tensor& dout, const Tensor& argmax, const Pool2dParams& p, const Tensor& dx) {
  const int64_t planes = dx.size(0) * dx.size(1), HW = dx.size(2) * dx.size(3);
  const int64_t OHW = dout.size(2) * dout.size(3);
  dispatch_float(dx.dtype(), "max_pool2d backward", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pd = dout.data<T>();
    const int64_t* pa = argmax.data<int64_t>();
    T* pdx = dx.data<T>();
#pragma omp parallel for schedule(static) if (planes * (HW + OHW) >= kMinParallelWork)
    for (int64_t pl = 0; pl < planes; ++pl) {
      T* xp = pdx + pl * HW;
      std::fill(xp, xp + HW, T(0));
      for (int64_t o = 0; o < OHW; ++o) xp[pa[pl * OHW + o]] += pd[pl * OHW + o];
    }
  });
}

// Divisor kH kW always (count_include_pad): padded cells count as zeros.
void avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = out.size(2), OW = out.size(3);
  const double inv = 1.0 / (static_cast<double>(p.kernel_h) * p.kernel_w);
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for schedule(static) if (planes * OH * OW * p.kernel_h * p.kernel_w >= kMinParallelWork)
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = px + pl * H * W;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const PoolWindow wh = pool_window(oh, p.kernel_h, p.stride_h, p.pad_h, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const PoolWindow ww = pool_window(ow, p.kernel_w, p.stride_w, p.pad_w, W);
          double s = 0.0;
          for (int64_t h = wh.lo; h < wh.hi; ++h)
            for (int64_t w = ww.lo; w < ww.hi; ++w) s += static_cast<double>(xp[h * W + w]);
          po[pl * OH * OW + oh * OW + ow] = static_cast<T>(s * inv);
        }
      }
    }
  });
}

void avg_pool2d_backward(const Tensor& dout, const Pool2dParams& p, const Tensor& dx) {
  const int64_t planes = dx.size(0) * dx.size(1), H = dx.size(2), W = dx.size(3);
  const int64_t OH = dout.size(2), OW = dout.size(3);
  const double inv = 1.0 / (static_cast<double>(p.kernel_h) * p.kernel_w);
  dispatch_float(dx.dtype(), "avg_pool2d backward", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pd = dout.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for schedule(static) if (planes * OH * OW * p.kernel_h * p.kernel_w >= kMinParallelWork)
    for (int64_t pl = 0; pl < planes; ++pl) {
      T* xp = pdx + pl * H * W;
      std::fill(xp, xp + H * W, T(0));
      for (int64_t oh = 0; oh < OH; ++oh) {
        const PoolWindow wh = pool_window(oh, p.kernel_h, p.stride_h, p.pad_h, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const PoolWindow ww = pool_window(ow, p.kernel_w, p.stride_w, p.pad_w, W);
          const T g = static_cast<T>(static_cast<double>(pd[pl * OH * OW + oh * OW + ow]) * inv);
          for (int64_t h = wh.lo; h < wh.hi; ++h)
            for (int64_t w = ww.lo; w < ww.hi; ++w) xp[h * W + w] += g;
        }
      }
    }
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& out) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = out.size(2), OW = out.size(3);
  dispatch_float(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for schedule(static) if (planes * H * W >= kMinParallelWork)
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = px + pl * H * W;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
          double s = 0.0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += static_cast<double>(xp[h * W + w]);
          po[pl * OH * OW + oh * OW + ow] = static_cast<T>(s / static_cast<double>((h1 - h0) * (w1 - w0)));
        }
      }
    }
  });
}

void adaptive_avg_pool2d_backward(const Tensor& dout, const Tensor& dx) {
  const int64_t planes = dx.size(0) * dx.size(1), H = dx.size(2), W = dx.size(3);
  const int64_t OH = dout.size(2), OW = dout.size(3);
  dispatch_float(dx.dtype(), "adaptive_avg_pool2d backward", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pd = dout.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for schedule(static) if (planes * H * W >= kMinParallelWork)
    for (int64_t pl = 0; pl < planes; ++pl) {
      T* xp = pdx + pl * H * W;
      std::fill(xp, xp + H * W, T(0));
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
          const T g = static_cast<T>(static_cast<double>(pd[pl * OH * OW + oh * OW + ow]) /
                                     static_cast<double>((h1 - h0) * (w1 - w0)));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) xp[h * W + w] += g;
        }
      }
    }
  });
}

}  // namespace dybat::cpu
