// Per-element math of the batch gather, written once for the CPU loop and the CUDA kernel (so the
// tests of the CPU side check the formulas the GPU runs). C++17, no host-only calls.
//
// Output element (b, c, y, x) of a batch of size B comes from sample s = id * B + b (or s =
// sample_ids[b] for a gather by sample):
//   augmentation (optional): flip x -> crop - 1 - x, then shift by the crop offsets (dy - 4, dx - 4);
//   outside the crop-sized image the padded value 0 is used;
//   pixel: the stored pixel when the split is stored at the crop size, else Pillow's two-pass
//   resize computed on the fly (data/resize_math.h; each vertical tap re-derives the uint8
//   intermediate it needs);
//   value: the normalisation table lut[c * 256 + pixel].
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/philox.h"
#include "data/resize_math.h"

namespace dybat {

constexpr int kAugPad = 4;  // torchvision RandomCrop(crop, padding=4)

// Raw pointers of one gather, valid on the device that runs it.
struct GatherArgs {
  const uint8_t* images = nullptr;  // [n, 3, h, w]
  const int64_t* labels = nullptr;  // [n]
  int64_t n = 0;
  int h = 0, w = 0;
  int crop = 0;
  int64_t batch = 0;  // B
  int64_t num_batches = 0;
  const int64_t* batch_id = nullptr;  // one element
  const int64_t* sample_ids = nullptr;  // [batch]: when set, output row b is sample sample_ids[b] (no batch id)
  // Resize tables (null when that axis is stored at the crop size): start[crop], k[crop, taps].
  const int32_t* x_start = nullptr;
  const int32_t* x_k = nullptr;
  int x_taps = 0;
  const int32_t* y_start = nullptr;
  const int32_t* y_k = nullptr;
  int y_taps = 0;
  const float* lut = nullptr;  // [3, 256]
  bool aug_crop = false, aug_flip = false;
  uint64_t seed = 0, offset = 0;
  // A rank's slice of a larger batch (aug_batch > 0): local sample id * batch + b draws the
  // augmentation of global sample id * aug_batch + aug_base + b, as one process would.
  int64_t aug_batch = 0, aug_base = 0;
};

// The split's sample behind output row b: sample_ids[b] when given, else row b of batch `id`.
DYBAT_HD int64_t gather_sample(const GatherArgs& a, int64_t id, int64_t b) {
  return a.sample_ids ? a.sample_ids[b] : id * a.batch + b;
}

struct AugDraw {
  int dy = kAugPad, dx = kAugPad;  // crop offsets in the padded image (kAugPad = no shift)
  bool flip = false;
};

// The augmentation of sample `sample`: Philox block `sample` of the stream (seed, offset).
// Offsets are floor(word * 9 / 2^32), uniform on 0..8 up to 2^-32; the flip is the top bit.
DYBAT_HD AugDraw aug_draw(const GatherArgs& a, int64_t sample) {
  AugDraw d;
  if (!a.aug_crop && !a.aug_flip) return d;
  if (a.aug_batch > 0) sample = sample / a.batch * a.aug_batch + a.aug_base + sample % a.batch;
  Philox4 r = philox_block(a.seed, a.offset, static_cast<uint64_t>(sample));
  if (a.aug_crop) {
    d.dy = static_cast<int>((static_cast<uint64_t>(r.x) * (2 * kAugPad + 1)) >> 32);
    d.dx = static_cast<int>((static_cast<uint64_t>(r.y) * (2 * kAugPad + 1)) >> 32);
  }
  if (a.aug_flip) d.flip = (r.z >> 31) != 0;
  return d;
}

// Pixel i of one row of a plane, as stored.
struct StoredRow {
  const uint8_t* row;
  DYBAT_HD int32_t operator()(int i) const { return row[i]; }
};

// Horizontal pass of Pillow's resize: the uint8 intermediate at source row iy, output column ox.
DYBAT_HD int32_t resize_row_value(const GatherArgs& a, const uint8_t* plane, int iy, int ox) {
  const StoredRow row{plane + static_cast<int64_t>(iy) * a.w};
  if (a.x_k == nullptr) return row(ox);
  return resize_one(a.x_k + static_cast<int64_t>(ox) * a.x_taps, a.x_taps, a.x_start[ox], a.w, row);
}

// Row iy of the horizontal pass's intermediate at output column ox (computed on the fly).
struct IntermediateColumn {
  const GatherArgs& a;
  const uint8_t* plane;
  int ox;
  DYBAT_HD int32_t operator()(int iy) const { return resize_row_value(a, plane, iy, ox); }
};

// The resized pixel (oy, ox) of one channel plane, both passes.
DYBAT_HD int32_t resized_pixel(const GatherArgs& a, const uint8_t* plane, int oy, int ox) {
  if (a.y_k == nullptr) return resize_row_value(a, plane, oy, ox);
  return resize_one(a.y_k + static_cast<int64_t>(oy) * a.y_taps, a.y_taps, a.y_start[oy], a.h,
                    IntermediateColumn{a, plane, ox});
}

// The normalised value of output element (c, y, x) of sample `sample` under augmentation d.
DYBAT_HD float gather_value(const GatherArgs& a, int64_t sample, const AugDraw& d, int c, int y, int x) {
  const int sx = d.flip ? a.crop - 1 - x : x;
  const int yy = y + d.dy - kAugPad, xx = sx + d.dx - kAugPad;
  int32_t p = 0;  // the padding value
  if (yy >= 0 && yy < a.crop && xx >= 0 && xx < a.crop) {
    const uint8_t* plane = a.images + (sample * 3 + c) * static_cast<int64_t>(a.h) * a.w;
    p = resized_pixel(a, plane, yy, xx);
  }
  return a.lut[c * 256 + p];
}

}  // namespace dybat
