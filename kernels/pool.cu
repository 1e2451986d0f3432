// CUDA pooling kernels, then their launchers. Forward: one thread per output element. Backward:
// one thread per input element that gathers from the outputs whose windows contain it (in
// row-major output order), so there are no atomics and results are bit-identical run to run.
// Global average pooling (1x1 output) has its own pair: a warp per plane forward, an elementwise
// spread backward.
#include <limits>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/cuda_launch.h"
#include "kernels/pool.h"
#include "kernels/pool_math.h"

namespace dybat::cuda {

namespace {

// The outputs o whose padded window [o s - pad, o s - pad + k) contains input cell i: [lo, hi).
struct OutRange {
  int64_t lo, hi;
};
__device__ __forceinline__ OutRange windows_containing(int64_t i, int64_t k, int64_t s, int64_t pad, int64_t n_out) {
  const int64_t first = i + pad - k + 1;  // o s >= first
  int64_t lo = first <= 0 ? 0 : (first + s - 1) / s;
  int64_t hi = (i + pad) / s + 1;
  return {lo, hi < n_out ? hi : n_out};
}

template <class T>
__global__ void max_pool_forward_kernel(const T* x, int64_t H, int64_t W, int64_t OH, int64_t OW, Pool2dParams p,
                                        T* out, int64_t* argmax, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    const int64_t ow = i % OW, oh = (i / OW) % OH, pl = i / (OH * OW);
    const PoolWindow wh = pool_window(oh, p.kernel_h, p.stride_h, p.pad_h, H);
    const PoolWindow ww = pool_window(ow, p.kernel_w, p.stride_w, p.pad_w, W);
    const T* xp = x + pl * H * W;
    T best = -std::numeric_limits<T>::infinity();  // padding never wins
    int64_t idx = wh.lo * W + ww.lo;
    for (int64_t h = wh.lo; h < wh.hi; ++h) {
      for (int64_t w = ww.lo; w < ww.hi; ++w) {
        const T v = xp[h * W + w];
        if (max_pool_takes(v, best)) {
          best = v;
          idx = h * W + w;
        }
      }
    }
    out[i] = best;
    argmax[i] = idx;
  }
}

template <class T>
__global__ void max_pool_backward_kernel(const T* dout, const int64_t* argmax, int64_t H, int64_t W, int64_t OH,
                                         int64_t OW, Pool2dParams p, T* dx, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    const int64_t w = i % W, h = (i / W) % H, pl = i / (H * W);
    const OutRange rh = windows_containing(h, p.kernel_h, p.stride_h, p.pad_h, OH);
    const OutRange rw = windows_containing(w, p.kernel_w, p.stride_w, p.pad_w, OW);
    const int64_t cell = h * W + w, base = pl * OH * OW;
    T acc = 0;
    for (int64_t oh = rh.lo; oh < rh.hi; ++oh)
      for (int64_t ow = rw.lo; ow < rw.hi; ++ow) {
        const int64_t o = base + oh * OW + ow;
        if (argmax[o] == cell) acc += dout[o];
      }
    dx[i] = acc;
  }
}

// count_include_pad: the divisor is always kH kW.
template <class T>
__global__ void avg_pool_forward_kernel(const T* x, int64_t H, int64_t W, int64_t OH, int64_t OW, Pool2dParams p,
                                        T* out, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    const int64_t ow = i % OW, oh = (i / OW) % OH, pl = i / (OH * OW);
    const PoolWindow wh = pool_window(oh, p.kernel_h, p.stride_h, p.pad_h, H);
    const PoolWindow ww = pool_window(ow, p.kernel_w, p.stride_w, p.pad_w, W);
    const T* xp = x + pl * H * W;
    T s = 0;
    for (int64_t h = wh.lo; h < wh.hi; ++h)
      for (int64_t w = ww.lo; w < ww.hi; ++w) s += xp[h * W + w];
    out[i] = s / static_cast<T>(p.kernel_h * p.kernel_w);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(const T* dout, int64_t H, int64_t W, int64_t OH, int64_t OW, Pool2dParams p,
                                         T* dx, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    const int64_t w = i % W, h = (i / W) % H, pl = i / (H * W);
    const OutRange rh = windows_containing(h, p.kernel_h, p.stride_h, p.pad_h, OH);
    const OutRange rw = windows_containing(w, p.kernel_w, p.stride_w, p.pad_w, OW);
    const T* dp = dout + pl * OH * OW;
    T acc = 0;
    for (int64_t oh = rh.lo; oh < rh.hi; ++oh)
      for (int64_t ow = rw.lo; ow < rw.hi; ++ow) acc += dp[oh * OW + ow];
    dx[i] = acc / static_cast<T>(p.kernel_h * p.kernel_w);
  }
}

template <class T>
__global__ void adaptive_forward_kernel(const T* x, int64_t H, int64_t W, int64_t OH, int64_t OW, T* out, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    const int64_t ow = i % OW, oh = (i / OW) % OH, pl = i / (OH * OW);
    const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
    const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
    const T* xp = x + pl * H * W;
    T s = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += xp[h * W + w];
    out[i] = s / static_cast<T>((h1 - h0) * (w1 - w0));
  }
}

// Output row i covers input row h exactly when floor(h OH / H) <= i < ceil((h + 1) OH / H); the
// explicit bounds test keeps the gather exact whatever the rounding.
template <class T>
__global__ void adaptive_backward_kernel(const T* dout, int64_t H, int64_t W, int64_t OH, int64_t OW, T* dx,
                                         int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    const int64_t w = i % W, h = (i / W) % H, pl = i / (H * W);
    const int64_t i0 = (h * OH) / H, i1 = ((h + 1) * OH + H - 1) / H;
    const int64_t j0 = (w * OW) / W, j1 = ((w + 1) * OW + W - 1) / W;
    const T* dp = dout + pl * OH * OW;
    T acc = 0;
    for (int64_t oh = i0; oh < i1 && oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      if (h < h0 || h >= h1) continue;
      for (int64_t ow = j0; ow < j1 && ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        if (w < w0 || w >= w1) continue;
        acc += dp[oh * OW + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
    dx[i] = acc;
  }
}

// Global average: one warp per plane, lanes stride over the plane, then a fixed shuffle tree.
template <class T>
__global__ void global_avg_forward_kernel(const T* x, int64_t planes, int64_t HW, T* out) {
  const int lane = threadIdx.x & 31;
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t pl = warp; pl < planes; pl += warps) {  // uniform across the warp
    const T* xp = x + pl * HW;
    T s = 0;
    for (int64_t q = lane; q < HW; q += 32) s += xp[q];
    for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) out[pl] = s / static_cast<T>(HW);
  }
}

template <class T>
__global__ void global_avg_backward_kernel(const T* dout, int64_t HW, T* dx, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) { dx[i] = dout[i / HW] / static_cast<T>(HW); }
}

}  // namespace

// ---- launchers --------------------------------------------------------------------------------

void max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out, const Tensor& argmax) {
  const int dev = out.device().index;
  const int64_t n = out.numel();
  dispatch_float(x.dtype(), "max_pool2d (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    max_pool_forward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(
        x.data<T>(), x.size(2), x.size(3), out.size(2), out.size(3), p, out.data<T>(), argmax.data<int64_t>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void max_pool2d_backward(const Tensor& dout, const Tensor& argmax, const Pool2dParams& p, const Tensor& dx) {
  const int dev = dx.device().index;
  const int64_t n = dx.numel();
  dispatch_float(dx.dtype(), "max_pool2d backward (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    max_pool_backward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(
        dout.data<T>(), argmax.data<int64_t>(), dx.size(2), dx.size(3), dout.size(2), dout.size(3), p, dx.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out) {
  const int dev = out.device().index;
  const int64_t n = out.numel();
  dispatch_float(x.dtype(), "avg_pool2d (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    avg_pool_forward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(x.data<T>(), x.size(2), x.size(3),
                                                                              out.size(2), out.size(3), p,
                                                                              out.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void avg_pool2d_backward(const Tensor& dout, const Pool2dParams& p, const Tensor& dx) {
  const int dev = dx.device().index;
  const int64_t n = dx.numel();
  dispatch_float(dx.dtype(), "avg_pool2d backward (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    avg_pool_backward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(dout.data<T>(), dx.size(2), dx.size(3),
                                                                               dout.size(2), dout.size(3), p,
                                                                               dx.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& out) {
  const int dev = out.device().index;
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), OH = out.size(2), OW = out.size(3);
  dispatch_float(x.dtype(), "adaptive_avg_pool2d (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    if (OH == 1 && OW == 1) {
      global_avg_forward_kernel<T><<<grid_for(planes * 32, dev), kBlock, 0, stream(dev)>>>(x.data<T>(), planes, H * W,
                                                                                          out.data<T>());
    } else {
      const int64_t n = out.numel();
      adaptive_forward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(x.data<T>(), H, W, OH, OW,
                                                                                out.data<T>(), n);
    }
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void adaptive_avg_pool2d_backward(const Tensor& dout, const Tensor& dx) {
  const int dev = dx.device().index;
  const int64_t n = dx.numel(), H = dx.size(2), W = dx.size(3), OH = dout.size(2), OW = dout.size(3);
  dispatch_float(dx.dtype(), "adaptive_avg_pool2d backward (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    if (OH == 1 && OW == 1) {
      global_avg_backward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(dout.data<T>(), H * W,
                                                                                  dx.data<T>(), n);
    } else {
      adaptive_backward_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(dout.data<T>(), H, W, OH, OW,
                                                                                 dx.data<T>(), n);
    }
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
