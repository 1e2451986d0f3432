// The built-in synthetic dataset: deterministic from the seed, 10 balanced classes, varied images,
// and the loud fallback when no dataset is found.
#include <gtest/gtest.h>

#include "support/data_files.h"
#include "data/dataset.h"

using namespace dybat;
using namespace dybat::test;

namespace {
DataOptions synth(uint64_t seed, int64_t n_train, int64_t n_test) {
  DataOptions o;
  o.dataset = "synthetic";
  o.seed = seed;
  o.synthetic_train = n_train;
  o.synthetic_test = n_test;
  return o;
}
}  // namespace

TEST(DataSynthetic, DeterministicFromTheSeed) {
  Dataset a = load_dataset(synth(7, 300, 100)), b = load_dataset(synth(7, 300, 100)),
          c = load_dataset(synth(8, 300, 100));
  EXPECT_EQ(a.name, "synthetic");
  EXPECT_EQ(a.num_classes(), 10);
  EXPECT_EQ(a.train.images.shape(), Shape({300, 3, 32, 32}));
  EXPECT_EQ(a.test.images.shape(), Shape({100, 3, 32, 32}));
  EXPECT_EQ(a.train.images.to_vector<uint8_t>(), b.train.images.to_vector<uint8_t>());
  EXPECT_EQ(a.train.labels.to_vector<int64_t>(), b.train.labels.to_vector<int64_t>());
  EXPECT_NE(a.train.images.to_vector<uint8_t>(), c.train.images.to_vector<uint8_t>());
  // Test images are not copies of train images.
  auto tr = a.train.images.to_vector<uint8_t>(), te = a.test.images.to_vector<uint8_t>();
  EXPECT_FALSE(std::equal(te.begin(), te.begin() + 3072, tr.begin()));
  // A larger set starts with the same samples (each is a function of its index).
  Dataset big = load_dataset(synth(7, 600, 100));
  auto bt = big.train.images.to_vector<uint8_t>();
  EXPECT_TRUE(std::equal(tr.begin(), tr.end(), bt.begin()));
}

TEST(DataSynthetic, BalancedClassesAndVariedImages) {
  Dataset d = load_dataset(synth(1, 2000, 500));
  std::vector<int> count(10, 0);
  for (int64_t l : d.train.labels.to_vector<int64_t>()) {
    ASSERT_GE(l, 0);
    ASSERT_LT(l, 10);
    count[l]++;
  }
  for (int c : count) EXPECT_GT(c, 140);
  // Every image has contrast (a shape or texture over a background), and images differ.
  const uint8_t* p = d.train.images.data<uint8_t>();
  for (int64_t i = 0; i < d.train.size(); ++i) {
    int lo = 255, hi = 0;
    for (int k = 0; k < 3072; ++k) {
      lo = std::min<int>(lo, p[i * 3072 + k]);
      hi = std::max<int>(hi, p[i * 3072 + k]);
    }
    ASSERT_GT(hi - lo, 60) << "sample " << i;
  }
  EXPECT_FALSE(std::equal(p, p + 3072, p + 3072));
}

TEST(DataSynthetic, IsTheLoudDefaultWhenNothingIsFound) {
  TempDir tmp;
  DataOptions o;
  o.root = tmp / "nothing-here";
  o.synthetic_train = 64;
  o.synthetic_test = 32;
  std::vector<std::string> log;
  Dataset d = load_dataset(o, [&](const std::string& m) { log.push_back(m); });
  EXPECT_EQ(d.name, "synthetic");
  EXPECT_EQ(d.train.size(), 64);
  std::string all;
  for (auto& m : log) all += m + "\n";
  EXPECT_NE(all.find("NOTICE"), std::string::npos) << all;
  EXPECT_NE(all.find("SYNTHETIC"), std::string::npos) << all;
  EXPECT_NE(all.find("tools/fetch-data"), std::string::npos) << all;
  // Asked for by name: no notice.
  log.clear();
  load_dataset(synth(0, 16, 16), [&](const std::string& m) { log.push_back(m); });
  for (auto& m : log) EXPECT_EQ(m.find("NOTICE"), std::string::npos) << m;
}

TEST(DataSynthetic, BatchesThroughTheLoader) {
  DataOptions o = synth(3, 100, 50);
  o.permute = true;
  Dataset d = load_dataset(o);
  BatchLoader loader(d.train, 32, 64);  // stored at 32x32, resized in the gather
  ASSERT_EQ(loader.num_batches(), 3);
  auto [images, labels] = loader.batch(2);
  EXPECT_EQ(images.shape(), Shape({32, 3, 64, 64}));
  for (float v : images.to_vector<float>()) {
    ASSERT_GE(v, -2.2f);
    ASSERT_LE(v, 2.7f);
  }
  auto l = labels.to_vector<int64_t>(), all = d.train.labels.to_vector<int64_t>();
  EXPECT_TRUE(std::equal(l.begin(), l.end(), all.begin() + 64));
}
