// BatchLoader on the CPU: drop_last batching in fixed order, the resize to the crop inside the
// gather (equal to the host resize), normalisation, augmentation from Philox (checked against an
// independent reimplementation of the documented rule), float64 batches, and argument errors.
#include <gtest/gtest.h>

#include "core/copy.h"
#include "core/philox.h"
#include "support/data_files.h"
#include "data/dataset.h"
#include "data/transform.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;

namespace {

// The expected batch: host resize of each sample, then (optionally) pad 4 / crop at (dy, dx) /
// flip, then the table. Augmentation per the contract in dataset.h: Philox block `sample` of
// (seed, offset); dy = floor(x * 9 / 2^32), dx from y, flip = top bit of z.
std::vector<float> expected_batch(const Split& s, int64_t id, int64_t B, int crop, AugmentOptions aug, uint64_t seed,
                                  uint64_t offset) {
  const int h = static_cast<int>(s.images.size(2)), w = static_cast<int>(s.images.size(3));
  auto lut = normalize_lut();
  std::vector<float> out;
  std::vector<uint8_t> resized(3 * crop * crop);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t sample = id * B + b;
    resize_planes(s.images.data<uint8_t>() + sample * 3 * h * w, 3, h, w, resized.data(), crop, crop);
    int dy = 4, dx = 4;
    bool flip = false;
    if (aug.any()) {
      Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(sample));
      if (aug.random_crop) {
        dy = static_cast<int>((uint64_t{r.x} * 9) >> 32);
        dx = static_cast<int>((uint64_t{r.y} * 9) >> 32);
      }
      if (aug.flip) flip = (r.z & 0x80000000u) != 0;
    }
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < crop; ++y)
        for (int x = 0; x < crop; ++x) {
          // crop of the padded image at (dy, dx), then the flip of the crop
          const int cx = flip ? crop - 1 - x : x;
          const int py = y + dy - 4, px = cx + dx - 4;
          const uint8_t v = (py >= 0 && py < crop && px >= 0 && px < crop) ? resized[(c * crop + py) * crop + px] : 0;
          out.push_back(lut[c * 256 + v]);
        }
  }
  return out;
}

}  // namespace

TEST(DataBatchLoader, DropLastCountsOfTheReference) {
  const int64_t sizes[] = {50000, 10000, 5000, 8000};
  const int64_t batches[] = {64, 128, 256, 512};
  const int64_t expect[4][4] = {{781, 390, 195, 97}, {156, 78, 39, 19}, {78, 39, 19, 9}, {125, 62, 31, 15}};
  for (int i = 0; i < 4; ++i) {
    Split s{Tensor::zeros({sizes[i], 3, 1, 1}, DType::UInt8), Tensor::zeros({sizes[i]}, DType::Int64)};
    for (int j = 0; j < 4; ++j) EXPECT_EQ(BatchLoader(s, batches[j], 1).num_batches(), expect[i][j]);
  }
}

TEST(DataBatchLoader, BatchesInFixedOrderAtStoredSize) {
  Split s = pattern_split(23, 6, 6);
  BatchLoader loader(s, 5, 6);
  ASSERT_EQ(loader.num_batches(), 4);  // samples 20..22 are never seen
  for (int64_t k = 0; k < 4; ++k) {
    auto [images, labels] = loader.batch(k);
    EXPECT_EQ(images.shape(), Shape({5, 3, 6, 6}));
    EXPECT_EQ(labels.to_vector<int64_t>(), (std::vector<int64_t>{5 * k, 5 * k + 1, 5 * k + 2, 5 * k + 3, 5 * k + 4}));
    EXPECT_EQ(images.to_vector<float>(), expected_batch(s, k, 5, 6, {}, 0, 0));
  }
}

TEST(DataBatchLoader, ResizeInTheGatherEqualsTheHostResize) {
  for (auto [h, w, crop] :
       std::vector<std::array<int, 3>>{{8, 8, 13}, {32, 32, 48}, {24, 24, 16}, {10, 14, 9}, {7, 12, 7}, {12, 7, 7}}) {
    Split s = pattern_split(6, h, w);
    BatchLoader loader(s, 3, crop);
    for (int64_t k = 0; k < 2; ++k)
      EXPECT_EQ(loader.batch(k).first.to_vector<float>(), expected_batch(s, k, 3, crop, {}, 0, 0))
          << h << "x" << w << " -> " << crop;
  }
}

TEST(DataBatchLoader, AugmentationFollowsTheDocumentedPhiloxRule) {
  Split s = pattern_split(64, 12, 12);
  for (AugmentOptions aug : {AugmentOptions{true, false}, AugmentOptions{false, true}, AugmentOptions{true, true}}) {
    for (int crop : {12, 10}) {
      BatchLoader loader(s, 16, crop, aug);
      for (int64_t k : {0, 3}) {
        auto got = loader.batch(k, 77, 5).first.to_vector<float>();
        EXPECT_EQ(got, expected_batch(s, k, 16, crop, aug, 77, 5))
            << "crop " << aug.random_crop << " flip " << aug.flip << " size " << crop << " batch " << k;
      }
    }
  }
}

TEST(DataBatchLoader, AugmentationVariesWithOffsetAndCoversAllShifts) {
  Split s = pattern_split(400, 8, 8);
  BatchLoader loader(s, 400, 8, parse_augment("crop,flip"));
  auto a = loader.batch(0, 1, 0).first.to_vector<float>();
  EXPECT_EQ(a, loader.batch(0, 1, 0).first.to_vector<float>()) << "same stream, same batch";
  EXPECT_NE(a, loader.batch(0, 1, 1).first.to_vector<float>()) << "another step offset";
  EXPECT_NE(a, loader.batch(0, 2, 0).first.to_vector<float>()) << "another seed";
  int shifts[9] = {}, flips = 0;
  for (uint64_t i = 0; i < 400; ++i) {
    Philox4 r = philox_block(1, 0, i);
    shifts[(uint64_t{r.x} * 9) >> 32]++;
    flips += r.z >> 31;
  }
  for (int v : shifts) EXPECT_GT(v, 20);
  EXPECT_GT(flips, 150);
  EXPECT_LT(flips, 250);
  // Without augmentation the seed and offset change nothing.
  BatchLoader plain(s, 400, 8);
  EXPECT_EQ(plain.batch(0, 1, 0).first.to_vector<float>(), plain.batch(0, 9, 9).first.to_vector<float>());
}

TEST(DataBatchLoader, PaddingIsBlackBeforeNormalisation) {
  // A white image shifted fully by 4 shows a 4-pixel band of normalised 0 on the padded side.
  Split s{Tensor::full({1, 3, 8, 8}, 255, DType::UInt8), Tensor::zeros({1}, DType::Int64)};
  uint64_t offset = 0;
  Philox4 r{};
  for (; offset < 10000; ++offset) {  // find a stream whose draw for sample 0 is dy = 0 (shift down)
    r = philox_block(3, offset, 0);
    if (((uint64_t{r.x} * 9) >> 32) == 0) break;
  }
  BatchLoader loader(s, 1, 8, parse_augment("crop"));
  auto v = loader.batch(0, 3, offset).first.to_vector<float>();
  auto lut = normalize_lut();
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 8; ++x) {
      EXPECT_EQ(v[(c * 8 + 0) * 8 + x], lut[c * 256]);
      EXPECT_EQ(v[(c * 8 + 3) * 8 + x], lut[c * 256]);
      EXPECT_EQ(v[(c * 8 + 4) * 8 + x] == lut[c * 256 + 255] || v[(c * 8 + 4) * 8 + x] == lut[c * 256], true);
    }
}

TEST(DataBatchLoader, GatherReadsTheBatchIdFromATensorWithoutAHostRead) {
  Split s = pattern_split(12, 4, 4);
  BatchLoader loader(s, 4, 4);
  Tensor images = Tensor::empty({4, 3, 4, 4}), labels = Tensor::empty({4}, DType::Int64);
  Tensor id = Tensor::full({1}, 2, DType::Int64);
  const uint64_t reads = transfer_counters().host_reads;
  loader.gather(id, images, labels);
  EXPECT_EQ(transfer_counters().host_reads, reads);
  EXPECT_EQ(labels.to_vector<int64_t>(), (std::vector<int64_t>{8, 9, 10, 11}));
  EXPECT_EQ(images.to_vector<float>(), expected_batch(s, 2, 4, 4, {}, 0, 0));
}

TEST(DataBatchLoader, Float64BatchesHoldTheFloat32Values) {
  Split s = pattern_split(8, 5, 5);
  BatchLoader loader(s, 4, 7, parse_augment("flip"));
  Tensor images = Tensor::empty({4, 3, 7, 7}, DType::Float64), labels = Tensor::empty({4}, DType::Int64);
  loader.gather(int64_t{1}, images, labels, 4, 4);
  auto f = expected_batch(s, 1, 4, 7, parse_augment("flip"), 4, 4);
  auto d = images.to_vector<double>();
  ASSERT_EQ(d.size(), f.size());
  for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(d[i], static_cast<double>(f[i])) << i;
}

TEST(DataBatchLoader, ArgumentErrors) {
  Split s = pattern_split(10, 4, 4);
  EXPECT_NE(error_of([&] { BatchLoader(s, 11, 4); }).find("larger than the split"), std::string::npos);
  EXPECT_NE(error_of([&] { BatchLoader(s, 0, 4); }).find("batch size must be positive"), std::string::npos);
  EXPECT_NE(error_of([&] { BatchLoader(Split{}, 1, 4); }).find("empty"), std::string::npos);
  Split wrong{Tensor::zeros({10, 3, 4, 4}), s.labels};
  EXPECT_NE(error_of([&] { BatchLoader(wrong, 2, 4); }).find("uint8"), std::string::npos);
  BatchLoader loader(s, 3, 4);
  Tensor images = Tensor::empty({3, 3, 4, 4}), labels = Tensor::empty({3}, DType::Int64);
  EXPECT_NE(error_of([&] { loader.gather(int64_t{3}, images, labels); }).find("out of range [0, 3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loader.gather(Tensor::full({1}, -1, DType::Int64), images, labels); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loader.gather(Tensor::full({1}, 0, DType::Int32), images, labels); }).find("int64"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              loader.gather(int64_t{0}, Tensor::empty({3, 3, 5, 5}), labels);
            }).find("images must be"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loader.gather(int64_t{0}, images, Tensor::empty({3})); }).find("labels must be"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_augment("crop,rotate"); }).find("unknown item 'rotate'"), std::string::npos);
  EXPECT_FALSE(parse_augment("none").any());
  EXPECT_FALSE(parse_augment("").any());
  AugmentOptions both = parse_augment("flip,crop");
  EXPECT_TRUE(both.flip && both.random_crop);
}
