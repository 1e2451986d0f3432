// The built-in synthetic dataset: 32x32 RGB images of 10 procedurally drawn classes (five shapes
// at random positions and sizes, five textures at random scales and phases), each in random
// foreground/background colours with Gaussian pixel noise. Every image is a pure function of
// (seed, split, index) through Philox, so the set is identical on every machine and thread count.
// A small CNN separates the classes from shape alone (colours carry no class information).
#include <algorithm>
#include <cmath>

#include "core/philox.h"
#include "data/readers.h"

namespace dybat {

const char* const kSyntheticClasses[10] = {"disc",     "square",   "triangle", "ring",    "cross",
                                           "hstripes", "vstripes", "diagonal", "checker", "dots"};

namespace {

constexpr int kSize = 32;
constexpr double kNoiseStd = 0.08;
// Stream offsets: parameters and noise of each split draw from their own Philox streams.
constexpr uint64_t kParamStream = 0x53594e5041520000ull, kNoiseStream = 0x53594e4e4f490000ull;

// Coverage in {0, 1} of pixel (x, y) for class `label` with the sample's geometry.
double mask(int label, double x, double y, double cx, double cy, double r, int period, double phase) {
  const double dx = x - cx, dy = y - cy, dist = std::sqrt(dx * dx + dy * dy);
  const double px = x + phase, py = y + phase;
  auto band = [&](double v) { return std::fmod(std::floor(v / period), 2.0) == 0.0; };
  switch (label) {
    case 0:
      return dist <= r;
    case 1:
      return std::fabs(dx) <= 0.8 * r && std::fabs(dy) <= 0.8 * r;
    case 2:
      return dy >= -r && dy <= r && std::fabs(dx) <= 0.5 * (dy + r);  // apex up
    case 3:
      return dist <= r && dist >= 0.55 * r;
    case 4:
      return (std::fabs(dx) <= r / 3 && std::fabs(dy) <= r) || (std::fabs(dy) <= r / 3 && std::fabs(dx) <= r);
    case 5:
      return band(py);
    case 6:
      return band(px);
    case 7:
      return band((px + py) / 1.41421356);
    case 8:
      return band(px) != band(py);
    default: {  // dots: 2x2 squares on a grid of step period + 1
      const int step = period + 1;
      const int ix = static_cast<int>(px), iy = static_cast<int>(py);
      return (ix % step) < 2 && (iy % step) < 2;
    }
  }
}

Split make_split(int64_t n, uint64_t seed, uint64_t split) {
  Split s;
  s.images = Tensor::empty({n, 3, kSize, kSize}, DType::UInt8);
  s.labels = Tensor::empty({n}, DType::Int64);
  uint8_t* img = s.images.data<uint8_t>();
  int64_t* lab = s.labels.data<int64_t>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    auto u = [&](int j) { return philox_uniform(seed, kParamStream + split, static_cast<uint64_t>(i) * 16 + j); };
    const int label = std::min(9, static_cast<int>(u(0) * 10));
    double bg[3], fg[3];
    for (int c = 0; c < 3; ++c) {
      bg[c] = u(1 + c);
      fg[c] = u(4 + c);
    }
    // Keep the shape visible: a foreground too close to the background is moved half the range away.
    double diff = 0;
    for (int c = 0; c < 3; ++c) diff += std::fabs(fg[c] - bg[c]) / 3;
    if (diff < 0.25)
      for (int c = 0; c < 3; ++c) fg[c] = bg[c] < 0.5 ? bg[c] + 0.5 : bg[c] - 0.5;
    const double cx = 8 + 16 * u(7), cy = 8 + 16 * u(8), r = 5 + 5 * u(9);
    const int period = 3 + std::min(2, static_cast<int>(u(10) * 3));
    const double phase = u(11) * 2 * period;
    lab[i] = label;
    uint8_t* dst = img + i * 3 * kSize * kSize;
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x) {
        const double m = mask(label, x + 0.5, y + 0.5, cx, cy, r, period, phase);
        for (int c = 0; c < 3; ++c) {
          const int64_t k = (static_cast<int64_t>(c) * kSize + y) * kSize + x;
          double v =
              bg[c] + (fg[c] - bg[c]) * m +
              kNoiseStd * philox_normal(seed, kNoiseStream + split, static_cast<uint64_t>(i) * 3 * kSize * kSize + k);
          v = std::clamp(v, 0.0, 1.0);
          dst[k] = static_cast<uint8_t>(v * 255.0 + 0.5);
        }
      }
  }
  return s;
}

}  // namespace

Dataset make_synthetic(int64_t n_train, int64_t n_test, uint64_t seed) {
  DYBAT_CHECK(n_train > 0 && n_test > 0, "synthetic: sizes must be positive, got ", n_train, " train and ", n_test,
              " test");
  Dataset d;
  d.name = "synthetic";
  d.classes.assign(kSyntheticClasses, kSyntheticClasses + 10);
  d.train = make_split(n_train, seed, 0);
  d.test = make_split(n_test, seed, 1);
  return d;
}

}  // namespace dybat
