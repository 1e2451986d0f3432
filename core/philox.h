// Philox4x32-10: the counter-based random generator behind every random number in dybat.
//
// Each call maps (counter, key) to four independent 32-bit words; there is no hidden state, so the
// n-th number of a stream depends only on (seed, offset, n). The same code runs on the host and on
// the device, which is why a seed gives identical weights, dropout masks and augmentations on
// every run and on either device, whatever the launch shape.
// Reference: Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC'11).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace dybat {

struct Philox4 {
  uint32_t x, y, z, w;
};

DYBAT_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// One Philox4x32-10 block: counter (c0..c3), key (k0, k1).
DYBAT_HD Philox4 philox4x32_10(Philox4 c, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(M0, c.x, hi0, lo0);
    philox_mulhilo(M1, c.z, hi1, lo1);
    c = Philox4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
    k0 += W0;
    k1 += W1;
  }
  return c;
}

// The four words for block `index` of the stream (seed, stream offset). Offsets let separate
// consumers (weight init of each tensor, each step's dropout) draw disjoint streams.
DYBAT_HD Philox4 philox_block(uint64_t seed, uint64_t offset, uint64_t index) {
  Philox4 c{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), static_cast<uint32_t>(offset),
            static_cast<uint32_t>(offset >> 32)};
  return philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

DYBAT_HD uint32_t philox_word(const Philox4& r, int j) {
  return j == 0 ? r.x : j == 1 ? r.y : j == 2 ? r.z : r.w;
}

// Uniform in [0, 1) from 24 random bits (exact in float32).
DYBAT_HD float uniform_float(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }
// Uniform in [0, 1) from 53 random bits (exact in float64).
DYBAT_HD double uniform_double(uint32_t hi, uint32_t lo) {
  uint64_t v = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(v & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Element n of a stream of uniform doubles in [0,1): block n/2, words (2*(n%2), 2*(n%2)+1).
DYBAT_HD double philox_uniform(uint64_t seed, uint64_t offset, uint64_t n) {
  Philox4 r = philox_block(seed, offset, n >> 1);
  return (n & 1) ? uniform_double(r.z, r.w) : uniform_double(r.x, r.y);
}

// Element n of a stream of standard normals: Box-Muller on the block n/2, one value per half.
// Using both outputs of one transform keeps the stream exactly defined by n alone.
DYBAT_HD double philox_normal(uint64_t seed, uint64_t offset, uint64_t n) {
  Philox4 r = philox_block(seed, offset, n >> 1);
  double u1 = uniform_double(r.x, r.y), u2 = uniform_double(r.z, r.w);
  double radius = sqrt(-2.0 * log(1.0 - u1));  // 1 - u1 is in (0, 1]: log never sees 0
  double angle = 6.283185307179586 * u2;
  return (n & 1) ? radius * sin(angle) : radius * cos(angle);
}

// A seeded source of disjoint Philox streams. `next_offset(n)` reserves n blocks and returns the
// offset to use; the same sequence of reservations gives the same numbers everywhere.
struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;
  explicit Generator(uint64_t s = 0) : seed(s) {}
  uint64_t next_offset() { return offset++; }
};

}  // namespace dybat
