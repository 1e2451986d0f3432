// The real CIFAR-10 as JPEG folders (cifar10-jpg.tar.gz in the shared data folder, when present): 50,000 train
// and 10,000 test images in 10 classes in CIFAR's order; prints the time to decode and cache, and
// to load again from the cache. Decoded at crop 32 (the images' own size) to keep CI cost low.
#include "support/paths.h"
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "support/data_files.h"
#include "data/dataset.h"

using namespace dybat;
using namespace dybat::test;

namespace {
double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TEST(DataRealCifar10, JpegFoldersDecodeAndCache) {
  const std::string archive = dybat::test::shared_dir() + "/data/cifar10-jpg.tar.gz";
  if (!std::filesystem::exists(archive)) GTEST_SKIP() << "shared data " << archive << " not present";
  TempDir tmp;
  auto t0 = std::chrono::steady_clock::now();
  const std::string cmd = "tar xzf '" + archive + "' -C '" + tmp.path() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const double t_extract = seconds(t0);
  const std::string root = tmp / "cifar10-jpg";
  ASSERT_TRUE(std::filesystem::is_directory(root + "/train")) << "expected cifar10-jpg/train in the archive";

  DataOptions o = options_for("", root, tmp / "cache", 32);
  std::vector<std::string> log;
  auto logger = [&](const std::string& m) { log.push_back(m); };
  t0 = std::chrono::steady_clock::now();
  Dataset d = load_dataset(o, logger);
  const double t_decode = seconds(t0);
  t0 = std::chrono::steady_clock::now();
  Dataset again = load_dataset(o, logger);
  const double t_cached = seconds(t0);

  EXPECT_EQ(d.name, "folder");
  EXPECT_EQ(d.classes, (std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                 "horse", "ship", "truck"}));
  ASSERT_EQ(d.train.size(), 50000);
  ASSERT_EQ(d.test.size(), 10000);
  EXPECT_EQ(d.train.images.shape(), Shape({50000, 3, 32, 32}));
  std::vector<int> train_count(10), test_count(10);
  for (int64_t l : d.train.labels.to_vector<int64_t>()) train_count.at(l)++;
  for (int64_t l : d.test.labels.to_vector<int64_t>()) test_count.at(l)++;
  EXPECT_EQ(train_count, std::vector<int>(10, 5000));
  EXPECT_EQ(test_count, std::vector<int>(10, 1000));
  // The cached load is the same data, and the fixed shuffled order mixes classes in a batch.
  EXPECT_EQ(again.train.images.to_vector<uint8_t>(), d.train.images.to_vector<uint8_t>());
  EXPECT_EQ(again.test.labels.to_vector<int64_t>(), d.test.labels.to_vector<int64_t>());
  auto l = d.train.labels.to_vector<int64_t>();
  EXPECT_GE(std::set<int64_t>(l.begin(), l.begin() + 128).size(), 9u);
  BatchLoader loader(d.train, 128, 32);
  EXPECT_EQ(loader.num_batches(), 390);
  auto [images, labels] = loader.batch(389);
  EXPECT_EQ(images.shape(), Shape({128, 3, 32, 32}));

  std::string all;
  for (auto& m : log) all += "  " + m + "\n";
  std::printf(
      "real CIFAR-10 JPEG folders (60,000 images, crop 32): extract %.2f s, decode + cache %.2f s, "
      "load from cache %.2f s\n%s",
      t_extract, t_decode, t_cached, all.c_str());
  RecordProperty("extract_s", std::to_string(t_extract));
  RecordProperty("decode_and_cache_s", std::to_string(t_decode));
  RecordProperty("cached_load_s", std::to_string(t_cached));
}
