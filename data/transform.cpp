// Pillow's bilinear resize (coefficients and the two-pass host resize) and the normalisation table.
#include "data/transform.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace dybat {

// Pillow's coefficients for its bilinear (triangle) filter, support 1 at the output scale:
//   scale = in / out, fscale = max(scale, 1), support = fscale (the triangle widened when shrinking)
//   centre of output o = (o + 0.5) * scale                       (pixel centres, no corner alignment)
//   inputs [xmin, xmax): xmin = max((int)(centre - support + 0.5), 0), xmax = min((int)(centre + support + 0.5), in)
//   w[x] = max(0, 1 - |(x + 0.5 - centre) / fscale|), renormalised to sum 1 (which matters at borders)
//   k[x] = (int)(w[x] * 2^22 + 0.5)
// The integer weights need not sum to exactly 2^22; the rounding bias 2^21 is added when applying.
ResizeTable resize_table(int in, int out) {
  DYBAT_CHECK(in > 0 && out > 0, "resize_table: sizes must be positive, got ", in, " -> ", out);
  ResizeTable t;
  t.in = in;
  t.out = out;
  const double scale = static_cast<double>(in) / out;
  const double fscale = std::max(scale, 1.0);
  const double support = fscale;
  std::vector<int> xmin(out), count(out);
  std::vector<std::vector<double>> weights(out);
  for (int o = 0; o < out; ++o) {
    const double center = (o + 0.5) * scale;
    // (int) truncates toward zero, as the C cast in Pillow; the max/min clamp to the image.
    int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    int hi = std::min(static_cast<int>(center + support + 0.5), in);
    double sum = 0.0;
    std::vector<double>& w = weights[o];
    for (int x = lo; x < hi; ++x) {
      double v = 1.0 - std::fabs((x + 0.5 - center) / fscale);
      w.push_back(v > 0.0 ? v : 0.0);
      sum += w.back();
    }
    if (sum != 0.0)
      for (double& v : w) v /= sum;
    xmin[o] = lo;
    count[o] = hi - lo;
    t.taps = std::max(t.taps, hi - lo);
  }
  t.start.assign(out, 0);
  t.k.assign(static_cast<size_t>(out) * t.taps, 0);
  for (int o = 0; o < out; ++o) {
    t.start[o] = xmin[o];
    for (int j = 0; j < count[o]; ++j)
      t.k[static_cast<size_t>(o) * t.taps + j] = static_cast<int32_t>(weights[o][j] * kResizeOne + 0.5);
  }
  return t;
}

namespace {

// Input pixel i of a row, or of a column with stride `stride`.
struct Strided {
  const uint8_t* p;
  int64_t stride;
  int32_t operator()(int i) const { return p[static_cast<int64_t>(i) * stride]; }
};

// One pass along rows (horizontal) of `rows` rows of width `w` into width t.out.
void pass_horizontal(const uint8_t* src, int rows, int w, const ResizeTable& t, uint8_t* dst) {
  for (int r = 0; r < rows; ++r) {
    const Strided row{src + static_cast<int64_t>(r) * w, 1};
    for (int o = 0; o < t.out; ++o)
      dst[static_cast<int64_t>(r) * t.out + o] =
          static_cast<uint8_t>(resize_one(&t.k[static_cast<size_t>(o) * t.taps], t.taps, t.start[o], w, row));
  }
}

// One pass along columns (vertical) of an h x cols image into height t.out.
void pass_vertical(const uint8_t* src, int h, int cols, const ResizeTable& t, uint8_t* dst) {
  for (int o = 0; o < t.out; ++o)
    for (int c = 0; c < cols; ++c)
      dst[static_cast<int64_t>(o) * cols + c] = static_cast<uint8_t>(
          resize_one(&t.k[static_cast<size_t>(o) * t.taps], t.taps, t.start[o], h, Strided{src + c, cols}));
}

}  // namespace

void resize_plane(const uint8_t* src, int h, int w, uint8_t* dst, int oh, int ow) {
  DYBAT_CHECK(h > 0 && w > 0 && oh > 0 && ow > 0, "resize: sizes must be positive, got ", h, "x", w, " -> ", oh, "x",
              ow);
  if (h == oh && w == ow) {
    std::copy(src, src + static_cast<int64_t>(h) * w, dst);
    return;
  }
  if (h == oh) return pass_horizontal(src, h, w, resize_table(w, ow), dst);
  if (w == ow) return pass_vertical(src, h, w, resize_table(h, oh), dst);
  // Both axes change: the horizontal pass first, into a uint8 intermediate of h x ow (its
  // rounding is part of the result: one final rounding would differ by a level here and there).
  std::vector<uint8_t> mid(static_cast<size_t>(h) * ow);
  pass_horizontal(src, h, w, resize_table(w, ow), mid.data());
  pass_vertical(mid.data(), h, ow, resize_table(h, oh), dst);
}

void resize_planes(const uint8_t* src, int channels, int h, int w, uint8_t* dst, int oh, int ow) {
  for (int c = 0; c < channels; ++c)
    resize_plane(src + static_cast<int64_t>(c) * h * w, h, w, dst + static_cast<int64_t>(c) * oh * ow, oh, ow);
}

float normalize_value(int channel, uint8_t p) {
  // The order of float32 operations is torchvision's: ToTensor divides by 255, Normalize
  // subtracts the mean and divides by the std, each rounded to float32 first.
  const float x = static_cast<float>(p) / 255.0f;
  const float mean = static_cast<float>(kImagenetMean[channel]);
  const float std = static_cast<float>(kImagenetStd[channel]);
  return (x - mean) / std;
}

std::array<float, 768> normalize_lut() {
  std::array<float, 768> lut{};
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 256; ++p) lut[c * 256 + p] = normalize_value(c, static_cast<uint8_t>(p));
  return lut;
}

}  // namespace dybat
