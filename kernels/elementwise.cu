// CUDA elementwise kernels (binary ops with broadcasting, scalar affine): kernels, then launchers.
#include "core/dispatch.h"
#include "core/strided.h"
#include "kernels/backend.h"
#include "kernels/cuda_launch.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_math.h"

namespace dybat::cuda {

namespace {

template <class T>
__global__ void binary_contiguous_kernel(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) { out[i] = binary_apply(op, a[i], b[i]); }
}

template <class T>
__global__ void binary_broadcast_kernel(BinaryOp op, const T* a, const T* b, T* out, StridedIndexer<2> ix, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    out[i] = binary_apply(op, a[off[0]], b[off[1]]);
  }
}

template <class T>
__global__ void affine_kernel(const T* a, StridedIndexer<1> ix, T alpha, T beta, T* out, int64_t n) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    int64_t off;
    ix.offsets(i, &off);
    out[i] = alpha * a[off] + beta;
  }
}

}  // namespace

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  int dev = out.device().index;
  int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "binary op (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    if (a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous()) {
      binary_contiguous_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(op, a.data<T>(), b.data<T>(),
                                                                                 out.data<T>(), n);
    } else {
      Shape sa = broadcast_strides(a, out.shape()), sb = broadcast_strides(b, out.shape());
      const Shape* st[2] = {&sa, &sb};
      auto ix = make_indexer<2>(out.shape(), st);
      binary_broadcast_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(op, a.data<T>(), b.data<T>(),
                                                                                out.data<T>(), ix, n);
    }
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void affine_forward(const Tensor& a, double alpha, double beta, const Tensor& out) {
  int dev = out.device().index;
  int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "affine (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const Shape* st[1] = {&a.strides()};
    auto ix = make_indexer<1>(a.shape(), st);
    affine_kernel<T><<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(a.data<T>(), ix, static_cast<T>(alpha),
                                                                    static_cast<T>(beta), out.data<T>(), n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
