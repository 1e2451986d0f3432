// CUDA sums over axes: one block per output element, a fixed-order tree reduction in the
// accumulation type (so results do not depend on timing). Kernels, then launchers.
#include "core/dispatch.h"
#include "core/strided.h"
#include "kernels/backend.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_launch.h"
#include "kernels/reduce.h"

namespace dybat::cuda {

namespace {

template <class T, class Acc>
__global__ void sum_kernel(const T* x, StridedIndexer<1> outer, StridedIndexer<1> inner, int64_t n_in, double scale,
                           T* out) {
  int64_t base;
  outer.offsets(blockIdx.x, &base);
  Acc acc = 0;
  for (int64_t r = threadIdx.x; r < n_in; r += blockDim.x) {
    int64_t off;
    inner.offsets(r, &off);
    acc += static_cast<Acc>(x[base + off]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<T>(acc * static_cast<Acc>(scale));
}

}  // namespace

void sum_forward(const Tensor& x, const std::vector<bool>& reduce_mask, double scale, const Tensor& out) {
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
  if (n_out == 0) return;
  DYBAT_CHECK(n_out < (int64_t(1) << 31), "sum (cuda): too many outputs");
  int dev = out.device().index;
  dispatch_float(x.dtype(), "sum (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    sum_kernel<T, double><<<static_cast<unsigned>(n_out), kBlock, 0, stream(dev)>>>(x.data<T>(), outer, inner, n_in,
                                                                                   scale, out.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
