// Pillow's fixed-point bilinear resize, applied: the one implementation that both the host resize
// (data/transform.cpp, which also derives the coefficient tables) and the on-device batch gather
// (data/gather_math.h, on the CPU and in the CUDA kernel) use. C++17, no host-only calls.
//
// One pass along one axis maps input pixels to output pixels with integer weights in units of
// 2^-kResizeBits. Output o reads the taps inputs start, start + 1, ... (an index past the image
// is clamped to its last pixel; such taps have weight 0):
//   out = clamp((kResizeHalf + sum_t k[t] * in[start + t]) >> kResizeBits, 0, 255)   in int32,
// the shift arithmetic, as Pillow's ImagingResample for 8-bit images.
#pragma once

#include <cstdint>

#include "core/hd.h"

namespace dybat {

constexpr int kResizeBits = 22;                            // Pillow's PRECISION_BITS for 8-bit images
constexpr double kResizeOne = 4194304.0;                   // 2^kResizeBits: a weight of 1
constexpr int32_t kResizeHalf = 1 << (kResizeBits - 1);    // the rounding bias added before the shift

// The accumulated sum back to a uint8 level.
DYBAT_HD int32_t resize_clip(int32_t acc) {
  acc >>= kResizeBits;
  return acc < 0 ? 0 : acc > 255 ? 255 : acc;
}

// One output value of one pass. k: the output's taps weights; in: the input axis length;
// pixel(i): the input value at index i (0 <= i < in). Zero weights are skipped, which changes
// nothing in the sum and saves the gather a nested pass per such tap.
template <class Pixel>
DYBAT_HD int32_t resize_one(const int32_t* k, int taps, int start, int in, const Pixel& pixel) {
  int32_t acc = kResizeHalf;
  for (int t = 0; t < taps; ++t) {
    const int i = start + t;
    if (k[t] != 0) acc += k[t] * pixel(i < in ? i : in - 1);
  }
  return resize_clip(acc);
}

}  // namespace dybat
