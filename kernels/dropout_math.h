// Per-element math of dropout, shared by the CPU loop and the CUDA kernel: the keep decision comes
// from the Philox stream alone, so both devices drop the same elements for the same (seed, offset).
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/philox.h"

namespace dybat {

// Element i is kept iff its uniform draw u_i in [0, 1) is >= p (so p = 0 keeps all, p = 1 none).
DYBAT_HD bool dropout_keep(uint64_t seed, uint64_t offset, uint64_t i, double p) {
  return philox_uniform(seed, offset, i) >= p;
}

// The output (or gradient) of one element: x / (1 - p) when kept, else 0. `scale` = 1 / (1 - p).
template <class T>
DYBAT_HD T dropout_value(T x, bool keep, T scale) {
  return keep ? x * scale : T(0);
}

}  // namespace dybat
