// CPU sums over axes: each output element adds its reduced elements in a fixed order in double.
//
// The kept and the reduced axes are each coalesced (core/strided_cpu.h). Three loop shapes:
//  - reduced elements contiguous (a mean over H W, a sum over everything): per output, eight
//    double lanes over the run, combined pairwise (vectorises);
//  - kept elements contiguous and reduced ones outside them (a sum over the batch): per block of
//    outputs, the reduced rows are added in order into double accumulators (vectorises along
//    the outputs);
//  - anything else: per output, the reduced elements in row-major order.
// The order depends only on the shapes, so results are bit-identical run to run.
#include <algorithm>
#include <vector>

#include "core/dispatch.h"
#include "core/strided_cpu.h"
#include "kernels/backend.h"
#include "kernels/reduce.h"

namespace dybat::cpu {

namespace {
constexpr int64_t kParallelMin = 32768;
constexpr int64_t kColBlock = 512;

template <class T>
double lane_sum(const T* p, int64_t n) {
  double a[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) a[l] += static_cast<double>(p[i + l]);
  for (int l = 0; i < n; ++i, ++l) a[l] += static_cast<double>(p[i]);
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
}  // namespace

void sum_forward(const Tensor& x, const std::vector<bool>& reduce_mask, double scale, const Tensor& out) {
  // Split x's axes into kept (outer) and reduced (inner) ones, each with x's strides.
  Shape outer_shape, outer_strides, inner_shape, inner_strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    (reduce_mask[d] ? inner_shape : outer_shape).push_back(x.size(d));
    (reduce_mask[d] ? inner_strides : outer_strides).push_back(x.stride(d));
  }
  const Shape* os[1] = {&outer_strides};
  const Shape* is[1] = {&inner_strides};
  const StridedRows<1> outer = coalesce<1>(outer_shape, os), inner = coalesce<1>(inner_shape, is);
  const int64_t n_out = shape_numel(outer_shape), n_in = shape_numel(inner_shape);
  const bool inner_contiguous = inner.ndim <= 1 && (inner.ndim == 0 || inner.inner_stride(0) == 1);
  const bool outer_contiguous = outer.ndim == 1 && outer.inner_stride(0) == 1;
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    if (inner_contiguous || !outer_contiguous) {
#pragma omp parallel for schedule(static) if (n_out > 1 && n_out * n_in > kParallelMin)
      for (int64_t o = 0; o < n_out; ++o) {
        int64_t base = 0;
        if (outer.ndim > 0) {
          outer.row_offsets(o / outer.inner(), &base);
          base += (o % outer.inner()) * outer.inner_stride(0);
        }
        double acc = 0.0;
        if (inner_contiguous) {
          acc = lane_sum(px + base, n_in);
        } else {
          for (int64_t r = 0; r < inner.rows(); ++r) {
            int64_t off;
            inner.row_offsets(r, &off);
            const T* p = px + base + off;
            const int64_t s = inner.inner_stride(0);
            for (int64_t k = 0; k < inner.inner(); ++k) acc += static_cast<double>(p[k * s]);
          }
        }
        po[o] = static_cast<T>(acc * scale);
      }
      return;
    }
    // Kept elements contiguous: blocks of outputs, reduced rows added in order.
    const int64_t blocks = (n_out + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (blocks > 1 && n_out * n_in > kParallelMin)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t c0 = blk * kColBlock, len = std::min(kColBlock, n_out - c0);
      double acc[kColBlock] = {};
      for (int64_t r = 0; r < inner.rows(); ++r) {
        int64_t off;
        inner.row_offsets(r, &off);
        for (int64_t k = 0; k < inner.inner(); ++k) {
          const T* p = px + off + k * inner.inner_stride(0) + c0;
          for (int64_t j = 0; j < len; ++j) acc[j] += static_cast<double>(p[j]);
        }
      }
      for (int64_t j = 0; j < len; ++j) po[c0 + j] = static_cast<T>(acc[j] * scale);
    }
  });
}

}  // namespace dybat::cpu
