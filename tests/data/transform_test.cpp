// Pillow's bilinear resize and torchvision's ToTensor+Normalize: the reference's worked example
// (4x4 -> 7x7) exactly, the normalised values, and properties on other sizes.
#include "data/transform.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "core/error.h"

using namespace dybat;

namespace {

const std::vector<uint8_t> kR = {0, 64, 128, 255, 32, 96, 160, 224, 255, 0, 255, 0, 17, 33, 99, 201};
const std::vector<uint8_t> kG = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160};
std::vector<uint8_t> blue() {
  std::vector<uint8_t> b(16, 7);
  b[1 * 4 + 2] = 250;
  return b;
}

std::vector<uint8_t> resize(const std::vector<uint8_t>& src, int h, int w, int oh, int ow) {
  std::vector<uint8_t> out(static_cast<size_t>(oh) * ow);
  resize_plane(src.data(), h, w, out.data(), oh, ow);
  return out;
}

}  // namespace

TEST(DataTransform, CoefficientsFourToSeven) {
  ResizeTable t = resize_table(4, 7);
  ASSERT_EQ(t.taps, 2);
  const std::vector<int32_t> start = {0, 0, 0, 1, 2, 2, 3};
  const std::vector<std::vector<int32_t>> k = {{4194304},          {2696338, 1497966}, {299593, 3894711},
                                               {2097152, 2097152}, {3894711, 299593},  {1497966, 2696338},
                                               {4194304}};
  EXPECT_EQ(t.start, start);
  for (int o = 0; o < 7; ++o)
    for (int j = 0; j < 2; ++j)
      EXPECT_EQ(t.k[o * 2 + j], j < static_cast<int>(k[o].size()) ? k[o][j] : 0) << "output " << o << " tap " << j;
}

TEST(DataTransform, ResizeFourToSevenMatchesPillow) {
  const std::vector<uint8_t> r7 = {0,   23,  59,  96,  137, 210, 255, 11,  34,  70,  107, 147, 207, 244, 30,  53,  89,
                                   126, 163, 202, 226, 144, 110, 55,  128, 201, 146, 112, 238, 154, 19,  124, 228, 96,
                                   14,  102, 73,  27,  88,  153, 139, 129, 17,  23,  32,  66,  106, 165, 201};
  const std::vector<uint8_t> g7 = {10,  14,  19,  25,  31,  36,  40,  24,  28,  33,  39,  45,  50,  54,  47,  51,  56,
                                   62,  68,  73,  77,  70,  74,  79,  85,  91,  96,  100, 93,  97,  102, 108, 114, 119,
                                   123, 116, 120, 125, 131, 137, 142, 146, 130, 134, 139, 145, 151, 156, 160};
  std::vector<uint8_t> b7(49, 7);
  const int bset[][3] = {{1, 3, 51}, {1, 4, 88}, {1, 5, 38},  {2, 3, 120}, {2, 4, 217},
                         {2, 5, 88}, {3, 3, 68}, {3, 4, 120}, {3, 5, 51}};
  for (auto& e : bset) b7[e[0] * 7 + e[1]] = static_cast<uint8_t>(e[2]);
  EXPECT_EQ(resize(kR, 4, 4, 7, 7), r7);
  EXPECT_EQ(resize(kG, 4, 4, 7, 7), g7);
  EXPECT_EQ(resize(blue(), 4, 4, 7, 7), b7);
  // The horizontal pass alone (4x4 -> 4x7) is the reference's uint8 intermediate.
  const std::vector<uint8_t> mid = {0,   23,  59, 96,  137, 210, 255, 32, 55, 91, 128, 165, 201, 224,
                                    255, 164, 18, 128, 237, 91,  0,   17, 23, 32, 66,  106, 165, 201};
  EXPECT_EQ(resize(kR, 4, 4, 4, 7), mid);
  // Planes of a CHW image are resized independently.
  std::vector<uint8_t> chw = kR, out(3 * 49);
  chw.insert(chw.end(), kG.begin(), kG.end());
  auto b = blue();
  chw.insert(chw.end(), b.begin(), b.end());
  resize_planes(chw.data(), 3, 4, 4, out.data(), 7, 7);
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + 49), r7);
  EXPECT_EQ(std::vector<uint8_t>(out.begin() + 98, out.end()), b7);
}

TEST(DataTransform, NonSquareResizesMatchPillow94) {
  // Outputs recorded from Pillow 9.4 (Image.resize, BILINEAR, mode L) for the input
  // (r * w + c) * 37 % 251. In 9 x 5 -> 7 x 7 the height shrinks while the width grows, where the
  // pass order matters: Pillow 9.4 (as 10, 11, 12) runs the horizontal pass first.
  auto input = [](int h, int w) {
    std::vector<uint8_t> a(static_cast<size_t>(h) * w);
    for (int i = 0; i < h * w; ++i) a[i] = static_cast<uint8_t>(i * 37 % 251);
    return a;
  };
  const std::vector<uint8_t> a = {50,  71,  79,  56,  82,  109, 130, 155, 176, 164, 92,  118, 96,  52,  77,  98,  125,
                                  151, 177, 165, 134, 199, 121, 74,  100, 98,  114, 135, 148, 169, 196, 222, 134, 76,
                                  45,  70,  91,  118, 144, 170, 148, 104, 175, 92,  40,  66,  92,  119, 140};
  EXPECT_EQ(resize(input(9, 5), 9, 5, 7, 7), a);
  const std::vector<uint8_t> b = {14,  66, 119, 177, 147, 31,  20,  72,  125, 170, 140, 37,  52,  104, 157, 137,
                                  107, 69, 83,  135, 188, 104, 74,  100, 115, 160, 168, 91,  80,  132, 146, 181,
                                  114, 90, 111, 163, 178, 202, 60,  90,  143, 195, 173, 148, 81,  122, 143, 130,
                                  169, 94, 102, 153, 142, 65,  154, 74,  127, 159, 129, 39,  126, 105, 158, 126,
                                  96,  70, 97,  137, 190, 93,  63,  102, 91,  143, 196, 86,  56,  108};
  EXPECT_EQ(resize(input(5, 9), 5, 9, 13, 6), b);
}

TEST(DataTransform, NormalisedValuesOfTheExample) {
  const float r0[] = {-2.117904f, -1.7240347f, -1.1075436f, -0.4739276f, 0.2281874f, 1.4782944f, 2.2489083f};
  const uint8_t r0p[] = {0, 23, 59, 96, 137, 210, 255};
  const float g3[] = {-0.810224f, -0.740196f, -0.65266097f, -0.547619f, -0.44257697f, -0.35504198f, -0.28501397f};
  const uint8_t g3p[] = {70, 74, 79, 85, 91, 96, 100};
  auto lut = normalize_lut();
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(lut[r0p[i]], r0[i]) << i;
    EXPECT_EQ(lut[256 + g3p[i]], g3[i]) << i;
  }
  EXPECT_EQ(lut[512 + 7], -1.68244f);
  // Ranges from the reference.
  EXPECT_EQ(lut[0], -2.1179039f);
  EXPECT_EQ(lut[255], 2.2489083f);
  EXPECT_EQ(lut[256], -2.0357141f);
  EXPECT_EQ(lut[511], 2.4285715f);
  EXPECT_EQ(lut[512], -1.8044444f);
  EXPECT_EQ(lut[767], 2.6400001f);
}

TEST(DataTransform, NormaliseIsTrueDivision) {
  // The table is (p / 255 - mean) / std in float32 with divisions, bit for bit; multiplying by
  // reciprocals differs in the last bits for some levels, which is what this guards against.
  auto lut = normalize_lut();
  int reciprocal_differs = 0;
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 256; ++p) {
      volatile float x = static_cast<float>(p) / 255.0f;
      volatile float m = static_cast<float>(kImagenetMean[c]), s = static_cast<float>(kImagenetStd[c]);
      float expect = (x - m) / s;
      EXPECT_EQ(lut[c * 256 + p], expect);
      volatile float inv = 1.0f / s;
      volatile float alt = static_cast<float>(p) * (1.0f / 255.0f);
      if ((alt - m) * inv != expect) ++reciprocal_differs;
    }
  EXPECT_GT(reciprocal_differs, 0);
}

TEST(DataTransform, SameSizeIsACopyAndConstantsStayConstant) {
  std::vector<uint8_t> img(13 * 9);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 29);
  EXPECT_EQ(resize(img, 13, 9, 13, 9), img);
  for (auto [h, w, oh, ow] : std::vector<std::array<int, 4>>{
           {32, 32, 128, 128}, {96, 96, 64, 64}, {5, 9, 13, 6}, {32, 32, 20, 20}, {96, 96, 32, 32}, {1, 1, 7, 3}}) {
    std::vector<uint8_t> c(static_cast<size_t>(h) * w, 173);
    auto out = resize(c, h, w, oh, ow);
    for (uint8_t v : out) ASSERT_EQ(v, 173) << h << "x" << w << " -> " << oh << "x" << ow;
  }
}

TEST(DataTransform, ShrinkAveragesOverTheWidenedTriangle) {
  // 96 -> 64: scale 1.5. Output 0 (centre 0.75) takes inputs [(int)(-0.25), (int)(2.75)) = [0, 2)
  // with triangle weights 1 - |x + 0.5 - 0.75| / 1.5 = 5/6, 1/2, normalised to 5/8, 3/8.
  // Output 1 (centre 2.25) takes [1, 4): 1/2, 5/6, 1/6 -> 3/9, 5/9, 1/9.
  ResizeTable t = resize_table(96, 64);
  ASSERT_EQ(t.taps, 3);
  EXPECT_EQ(t.start[0], 0);
  EXPECT_EQ(t.k[0], 2621440);
  EXPECT_EQ(t.k[1], 1572864);
  EXPECT_EQ(t.k[2], 0);
  EXPECT_EQ(t.start[1], 1);
  EXPECT_EQ(t.k[3], static_cast<int32_t>(3.0 / 9.0 * 4194304 + 0.5));
  EXPECT_EQ(t.k[4], static_cast<int32_t>(5.0 / 9.0 * 4194304 + 0.5));
  EXPECT_EQ(t.k[5], static_cast<int32_t>(1.0 / 9.0 * 4194304 + 0.5));
  // Every output's weights sum to 2^22 within rounding.
  for (auto [in, out] :
       std::vector<std::pair<int, int>>{{96, 64}, {32, 128}, {32, 224}, {96, 128}, {32, 20}, {96, 32}}) {
    ResizeTable r = resize_table(in, out);
    for (int o = 0; o < out; ++o) {
      int64_t sum = 0;
      for (int j = 0; j < r.taps; ++j) sum += r.k[o * r.taps + j];
      EXPECT_NEAR(static_cast<double>(sum), 4194304.0, r.taps) << in << "->" << out << " output " << o;
      EXPECT_GE(r.start[o], 0);
      EXPECT_LE(r.start[o], in - 1);
    }
  }
}

TEST(DataTransform, BadSizesAreRejected) {
  EXPECT_THROW(resize_table(0, 4), Error);
  std::vector<uint8_t> a(4), b(4);
  EXPECT_THROW(resize_plane(a.data(), 2, 2, b.data(), 0, 2), Error);
}
