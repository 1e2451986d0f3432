// The image transform of the original script, exactly as torchvision applies it to PIL images:
// Resize((crop, crop)) with Pillow's fixed-point bilinear, then ToTensor and Normalize(ImageNet).
//
// Resize (Pillow's ImagingResample, BILINEAR): per channel, two separable passes, horizontal
// first, into a uint8 intermediate image, then vertical; a pass whose size does not change is
// skipped. (Pillow 9.4 through 12 always run the horizontal pass first; Pillow 13 runs the
// vertical one first where the height shrinks while the width grows, which moves such results by
// a level here and there. Square resizes, which every official dataset needs, are unaffected.)
// For one axis in -> out, output o covers input [start, start + taps) with integer weights in
// units of 2^-22 (resize_table in transform.cpp derives them); applying them is
// data/resize_math.h's resize_one. Shrinking widens the triangle by in/out, which is Pillow's
// antialiasing.
//
// ToTensor + Normalize: y = ((float)p / 255.0f - mean_f) / std_f in float32 with true divisions,
// which equals torchvision bit for bit; a 256-entry table per channel holds every possible value.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "data/resize_math.h"

namespace dybat {

// Coefficients for one axis. Weights of output o are k[o*taps .. o*taps + taps), for input pixels
// start[o] + t; entries past an output's true support are 0 (their index may pass in - 1, so a
// reader clamps the index).
struct ResizeTable {
  int in = 0, out = 0, taps = 0;
  std::vector<int32_t> start;  // [out]
  std::vector<int32_t> k;      // [out, taps]
};
ResizeTable resize_table(int in, int out);

// Resizes one uint8 plane (h x w, row-major) to oh x ow as Pillow's bilinear resize does.
void resize_plane(const uint8_t* src, int h, int w, uint8_t* dst, int oh, int ow);
// Resizes `channels` consecutive planes (CHW).
void resize_planes(const uint8_t* src, int channels, int h, int w, uint8_t* dst, int oh, int ow);

// ImageNet statistics as torchvision's Normalize receives them (rounded to float32 when applied).
constexpr double kImagenetMean[3] = {0.485, 0.456, 0.406};
constexpr double kImagenetStd[3] = {0.229, 0.224, 0.225};

// The normalised float32 value of every uint8 level per channel: lut[c * 256 + p].
std::array<float, 768> normalize_lut();
float normalize_value(int channel, uint8_t p);

}  // namespace dybat
