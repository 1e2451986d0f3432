// Helpers for walking strided tensors element by element (CPU side) and for describing a strided
// view to a CUDA kernel by value. Used by copies and by elementwise kernels with broadcasting.
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/tensor.h"

namespace dybat {

constexpr int kMaxDims = 8;

// A shape and one or more stride sets, packed by value for kernels. Dims of size 1 are kept, so a
// broadcast input simply has stride 0 on the broadcast axes.
template <int NARGS>
struct StridedIndexer {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[NARGS][kMaxDims] = {};

  // Element offsets (in elements) of the linear index `i` of the iteration space, for each arg.
  DYBAT_HD void offsets(int64_t i, int64_t* out) const {
    for (int a = 0; a < NARGS; ++a) out[a] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t idx = i % shape[d];
      i /= shape[d];
      for (int a = 0; a < NARGS; ++a) out[a] += idx * strides[a][d];
    }
  }
};

// Strides of `t` broadcast to `shape` (stride 0 on new or size-1 axes); throws if incompatible.
Shape broadcast_strides(const Tensor& t, const Shape& shape);
// The broadcast shape of a and b, NumPy rules; throws with both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b);

template <int NARGS>
StridedIndexer<NARGS> make_indexer(const Shape& shape, const Shape* const* strides) {
  StridedIndexer<NARGS> ix;
  DYBAT_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), "tensors of more than ", kMaxDims,
              " dims are not supported");
  ix.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.shape[d] = shape[d];
    for (int a = 0; a < NARGS; ++a) ix.strides[a][d] = (*strides[a])[d];
  }
  return ix;
}

}  // namespace dybat
