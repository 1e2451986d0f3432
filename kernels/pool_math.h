// Window arithmetic of the pooling ops, shared by the CPU loops and the CUDA kernels.
#pragma once

#include <cstdint>

#include "core/hd.h"

namespace dybat {

// The input cells [lo, hi) of window o along one axis of a padded (max/avg) pool: the window is
// [o s - pad, o s - pad + k) clipped to the real cells [0, n). Padding is at most k/2, so the
// clipped window is never empty.
struct PoolWindow {
  int64_t lo, hi;
};
DYBAT_HD PoolWindow pool_window(int64_t o, int64_t k, int64_t s, int64_t pad, int64_t n) {
  int64_t start = o * s - pad;
  int64_t end = start + k;
  return {start < 0 ? 0 : start, end > n ? n : end};
}

// Adaptive pooling: output cell i of `out` cells over `in` covers [floor(i in/out), ceil((i+1) in/out)).
DYBAT_HD int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
DYBAT_HD int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// The max-pool scan rule: a later cell replaces the current best only when strictly greater, so
// ties keep the first maximum in row-major order; a NaN wins once and then stays (it propagates).
template <class T>
DYBAT_HD bool max_pool_takes(T v, T best) {
  return v > best || (v != v && best == best);
}

}  // namespace dybat
