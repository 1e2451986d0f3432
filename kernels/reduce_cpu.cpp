// CPU sums over axes: each output element adds its reduced elements in a fixed order in double.
#include "core/dispatch.h"
#include "core/strided.h"
#include "kernels/reduce.h"

namespace dybat::cpu {

void sum_forward(const Tensor& x, const std::vector<bool>& reduce_mask, double scale, const Tensor& out) {
  // Split x's axes into kept (outer) and reduced (inner) ones, each with x's strides.
  Shape outer_shape, outer_strides, inner_shape, inner_strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    (reduce_mask[d] ? inner_shape : outer_shape).push_back(x.size(d));
    (reduce_mask[d] ? inner_strides : outer_strides).push_back(x.stride(d));
  }
  const Shape* os[1] = {&outer_strides};
  const Shape* is[1] = {&inner_strides};
  auto outer = make_indexer<1>(outer_shape, os);
  auto inner = make_indexer<1>(inner_shape, is);
  int64_t n_out = shape_numel(outer_shape), n_in = shape_numel(inner_shape);
  bool inner_contiguous = inner_shape.size() == 1 && inner_strides[0] == 1;
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for schedule(static) if (n_out > 1 && n_out * n_in > 32768)
    for (int64_t o = 0; o < n_out; ++o) {
      int64_t base;
      outer.offsets(o, &base);
      double acc = 0.0;
      if (inner_contiguous) {
        const T* p = px + base;
        for (int64_t r = 0; r < n_in; ++r) acc += static_cast<double>(p[r]);
      } else {
        for (int64_t r = 0; r < n_in; ++r) {
          int64_t off;
          inner.offsets(r, &off);
          acc += static_cast<double>(px[base + off]);
        }
      }
      po[o] = static_cast<T>(acc * scale);
    }
  });
}

}  // namespace dybat::cpu
