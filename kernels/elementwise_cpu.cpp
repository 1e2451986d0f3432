// CPU elementwise kernels: a contiguous fast path and a strided loop for broadcasting.
#include "core/dispatch.h"
#include "core/strided.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_math.h"

namespace dybat::cpu {

namespace {
constexpr int64_t kParallelMin = 32768;  // below this, threads cost more than they save
}

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(out.dtype(), "binary op", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    int64_t n = out.numel();
    if (a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) po[i] = binary_apply(op, pa[i], pb[i]);
      return;
    }
    Shape sa = broadcast_strides(a, out.shape()), sb = broadcast_strides(b, out.shape());
    const Shape* st[2] = {&sa, &sb};
    auto ix = make_indexer<2>(out.shape(), st);
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      int64_t off[2];
      ix.offsets(i, off);
      po[i] = binary_apply(op, pa[off[0]], pb[off[1]]);
    }
  });
}

void affine_forward(const Tensor& a, double alpha, double beta, const Tensor& out) {
  dispatch_float(out.dtype(), "affine", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    Tensor ac = a.contiguous();
    const T* pa = ac.data<T>();
    T* po = out.data<T>();
    T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = al * pa[i] + be;
  });
}

}  // namespace dybat::cpu
