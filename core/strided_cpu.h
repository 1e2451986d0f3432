// CPU loops over strided (and broadcast) tensors as rows: an outer index walked per row and a
// contiguous-or-broadcast inner loop per element, so the per-element cost is one load per operand
// rather than an index decomposition with a division per dim.
//
// coalesce() first merges adjacent dims that every operand can step through as one (dim d folds
// into d + 1 when stride[d] == shape[d + 1] stride[d + 1] for all operands, which includes
// broadcast dims of stride 0 on both sides), and drops dims of size 1. A contiguous tensor becomes
// one dim; [N, C, H, W] times a [N, C, 1, 1] gate becomes [N C, H W] with the gate's inner stride 0.
#pragma once

#include <cstdint>

#include "core/strided.h"

namespace dybat {

template <int NARGS>
struct StridedRows {
  int ndim = 0;  // after coalescing (0 for a single element)
  int64_t shape[kMaxDims] = {};
  int64_t strides[NARGS][kMaxDims] = {};

  int64_t inner() const { return ndim == 0 ? 1 : shape[ndim - 1]; }
  int64_t inner_stride(int a) const { return ndim == 0 ? 0 : strides[a][ndim - 1]; }
  int64_t rows() const {
    int64_t r = 1;
    for (int d = 0; d + 1 < ndim; ++d) r *= shape[d];
    return r;
  }
  // Offsets of the first element of row `r` (rows in row-major order over the outer dims).
  void row_offsets(int64_t r, int64_t* out) const {
    for (int a = 0; a < NARGS; ++a) out[a] = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      const int64_t idx = r % shape[d];
      r /= shape[d];
      for (int a = 0; a < NARGS; ++a) out[a] += idx * strides[a][d];
    }
  }
};

template <int NARGS>
StridedRows<NARGS> coalesce(const Shape& shape, const Shape* const* strides) {
  DYBAT_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), "tensors of more than ", kMaxDims,
              " dims are not supported");
  StridedRows<NARGS> r;
  // Walk from the innermost dim outwards, folding each dim into the current innermost kept one.
  int64_t sh[kMaxDims], st[NARGS][kMaxDims];
  int n = 0;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool fold = n > 0;
    for (int a = 0; a < NARGS && fold; ++a) fold = (*strides[a])[d] == sh[n - 1] * st[a][n - 1];
    if (fold) {
      sh[n - 1] *= shape[d];
    } else {
      sh[n] = shape[d];
      for (int a = 0; a < NARGS; ++a) st[a][n] = (*strides[a])[d];
      ++n;
    }
  }
  r.ndim = n;
  for (int k = 0; k < n; ++k) {  // back to outer-to-inner order
    r.shape[k] = sh[n - 1 - k];
    for (int a = 0; a < NARGS; ++a) r.strides[a][k] = st[a][n - 1 - k];
  }
  return r;
}

}  // namespace dybat
