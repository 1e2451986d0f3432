// The official binary releases, end to end from tiny files written here: pixel values, labels,
// class names and order, and every error case (missing folder or split, truncated or oversized
// files, labels out of range, torchvision's pickle release).
#include <gtest/gtest.h>

#include <filesystem>

#include "support/data_files.h"
#include "data/dataset.h"
#include "data/transform.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;

namespace {

// Every pixel of sample i of `s` equals pattern_pixel(first + i, ...).
void expect_pattern(const Split& s, int64_t first, int size) {
  const uint8_t* p = s.images.data<uint8_t>();
  int64_t bad = 0;
  for (int64_t i = 0; i < s.size(); ++i)
    for (int c = 0; c < 3; ++c)
      for (int r = 0; r < size; ++r)
        for (int col = 0; col < size; ++col)
          bad += p[((i * 3 + c) * size + r) * size + col] != pattern_pixel(first + i, c, r, col);
  EXPECT_EQ(bad, 0);
}

}  // namespace

TEST(DataOfficial, Cifar10PixelsLabelsAndOrder) {
  TempDir tmp;
  write_cifar10(tmp.path(), 3);
  Dataset d = load_dataset(options_for("cifar10", tmp.path(), tmp / "cache"));
  EXPECT_EQ(d.name, "cifar10");
  ASSERT_EQ(d.num_classes(), 10);
  EXPECT_EQ(d.classes[0], "airplane");
  EXPECT_EQ(d.classes[9], "truck");
  ASSERT_EQ(d.train.size(), 15);
  ASSERT_EQ(d.test.size(), 3);
  EXPECT_EQ(d.train.images.shape(), Shape({15, 3, 32, 32}));
  // Batches 1..5 concatenated: global index = per_file * (k - 1) + n.
  auto tl = d.train.labels.to_vector<int64_t>();
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(tl[i], i % 10);
  EXPECT_EQ(d.test.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 6}));
  expect_pattern(d.train, 0, 32);
  expect_pattern(d.test, 1000, 32);
}

TEST(DataOfficial, Cifar10DetectedUnderTheRoot) {
  TempDir tmp;
  write_cifar10(tmp.path(), 2);
  std::vector<std::string> log;
  Dataset d = load_dataset(options_for("", tmp.path(), tmp / "cache"), [&](const std::string& m) { log.push_back(m); });
  EXPECT_EQ(d.name, "cifar10");
  EXPECT_EQ(d.train.size(), 10);
  bool noted = false;
  for (auto& m : log) noted |= m.find("holds 2 records") != std::string::npos;
  EXPECT_TRUE(noted) << "a release of unofficial size is noted";
}

TEST(DataOfficial, Cifar100FineAndCoarse) {
  TempDir tmp;
  write_cifar100(tmp.path(), 6, 4);
  Dataset fine = load_dataset(options_for("cifar100", tmp.path(), tmp / "cache"));
  ASSERT_EQ(fine.num_classes(), 100);
  EXPECT_EQ(fine.classes[0], "fine100");
  EXPECT_EQ(fine.classes[99], "fine199");
  EXPECT_EQ(fine.train.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 7, 14, 21, 28, 35}));
  EXPECT_EQ(fine.test.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 7, 14, 21}));  // 7000 % 100 = 0, ...
  expect_pattern(fine.train, 0, 32);
  expect_pattern(fine.test, 1000, 32);
  DataOptions o = options_for("cifar100", tmp.path(), tmp / "cache");
  o.labels = "coarse";
  Dataset coarse = load_dataset(o);
  ASSERT_EQ(coarse.num_classes(), 20);
  EXPECT_EQ(coarse.classes[19], "coarse119");
  EXPECT_EQ(coarse.train.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(coarse.test.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));  // 1000 % 20 = 0
  expect_pattern(coarse.train, 0, 32);
  o.labels = "middle";
  EXPECT_NE(error_of([&] { load_dataset(o); }).find("'fine' or 'coarse'"), std::string::npos);
}

TEST(DataOfficial, Stl10ColumnMajorAndLabelsFromOne) {
  TempDir tmp;
  write_stl10(tmp.path(), 3, 2);
  Dataset d = load_dataset(options_for("stl10", tmp.path(), tmp / "cache", 96));
  ASSERT_EQ(d.num_classes(), 10);
  EXPECT_EQ(d.classes[7], "monkey");
  EXPECT_EQ(d.train.images.shape(), Shape({3, 3, 96, 96}));
  EXPECT_EQ(d.train.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(d.test.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
  // The files hold each plane column-major; the split holds it row-major (torchvision's transpose).
  expect_pattern(d.train, 0, 96);
  expect_pattern(d.test, 1000, 96);
}

TEST(DataOfficial, BatchOfAnOfficialSetIsTheNormalisedPattern) {
  TempDir tmp;
  write_cifar10(tmp.path(), 4);
  Dataset d = load_dataset(options_for("cifar10", tmp.path(), tmp / "cache"));
  BatchLoader loader(d.train, 8, 32);
  ASSERT_EQ(loader.num_batches(), 2);  // 20 samples, drop_last
  auto [images, labels] = loader.batch(1);
  auto lut = normalize_lut();
  auto v = images.to_vector<float>();
  EXPECT_EQ(labels.to_vector<int64_t>(), (std::vector<int64_t>{8, 9, 0, 1, 2, 3, 4, 5}));
  int64_t bad = 0;
  for (int b = 0; b < 8; ++b)
    for (int c = 0; c < 3; ++c)
      for (int r = 0; r < 32; ++r)
        for (int col = 0; col < 32; ++col)
          bad += v[((b * 3 + c) * 32 + r) * 32 + col] != lut[c * 256 + pattern_pixel(8 + b, c, r, col)];
  EXPECT_EQ(bad, 0);
}

TEST(DataOfficial, MissingFolderAndSplit) {
  TempDir tmp;
  std::string m = error_of([&] { load_dataset(options_for("cifar10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("cifar-10-batches-bin not found"), std::string::npos) << m;
  EXPECT_NE(m.find("tools/fetch-data cifar10"), std::string::npos) << m;
  m = error_of([&] { load_dataset(options_for("stl10", tmp / "nowhere", tmp / "cache")); });
  EXPECT_NE(m.find("stl10_binary not found"), std::string::npos) << m;

  write_cifar10(tmp.path(), 2);
  std::filesystem::remove(tmp / "cifar-10-batches-bin/test_batch.bin");
  m = error_of([&] { load_dataset(options_for("cifar10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("missing test split"), std::string::npos) << m;
  EXPECT_NE(m.find("test_batch.bin"), std::string::npos) << m;

  write_stl10(tmp.path(), 2, 2);
  std::filesystem::remove(tmp / "stl10_binary/train_y.bin");
  m = error_of([&] { load_dataset(options_for("stl10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("missing train split"), std::string::npos) << m;
  EXPECT_NE(m.find("train_y.bin"), std::string::npos) << m;

  write_cifar100(tmp.path(), 2, 2);
  std::filesystem::remove(tmp / "cifar-100-binary/fine_label_names.txt");
  m = error_of([&] { load_dataset(options_for("cifar100", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("fine_label_names.txt not found"), std::string::npos) << m;
}

TEST(DataOfficial, TruncatedAndOversizedFiles) {
  TempDir tmp;
  write_cifar10(tmp.path(), 2);
  const std::string b3 = tmp / "cifar-10-batches-bin/data_batch_3.bin";
  auto bytes = read_bytes(b3);
  bytes.pop_back();  // one byte short of two records
  write_bytes(b3, bytes);
  std::string m = error_of([&] { load_dataset(options_for("cifar10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("data_batch_3.bin is truncated"), std::string::npos) << m;
  EXPECT_NE(m.find("6145 bytes is not a whole number of 3073-byte records"), std::string::npos) << m;

  // Cut at a record boundary: the count differs from the other batch files.
  bytes.resize(3073);
  write_bytes(b3, bytes);
  m = error_of([&] { load_dataset(options_for("cifar10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("data_batch_3.bin holds 1 records"), std::string::npos) << m;

  // More records than the official file holds.
  TempDir big;
  write_stl10(big.path(), 1, 1);
  std::vector<int> labels(1);
  write_bytes(big / "stl10_binary/train_y.bin", std::vector<uint8_t>(5001, 1));
  m = error_of([&] { load_dataset(options_for("stl10", big.path(), big / "cache")); });
  EXPECT_NE(m.find("train_y.bin is oversized"), std::string::npos) << m;

  // Image and label files of an STL split disagree.
  write_bytes(big / "stl10_binary/train_y.bin", std::vector<uint8_t>(2, 1));
  m = error_of([&] { load_dataset(options_for("stl10", big.path(), big / "cache")); });
  EXPECT_NE(m.find("holds 1 images but"), std::string::npos) << m;

  // An empty file.
  write_bytes(big / "stl10_binary/test_X.bin", {});
  write_bytes(big / "stl10_binary/train_y.bin", std::vector<uint8_t>(1, 1));
  m = error_of([&] { load_dataset(options_for("stl10", big.path(), big / "cache")); });
  EXPECT_NE(m.find("test_X.bin is truncated"), std::string::npos) << m;
}

TEST(DataOfficial, LabelsOutOfRange) {
  TempDir tmp;
  write_cifar10(tmp.path(), 2);
  const std::string b2 = tmp / "cifar-10-batches-bin/data_batch_2.bin";
  auto bytes = read_bytes(b2);
  bytes[3073] = 10;  // label of record 1
  write_bytes(b2, bytes);
  std::string m = error_of([&] { load_dataset(options_for("cifar10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("data_batch_2.bin: record 1 (byte 3073) has label 10, out of range 0..9"), std::string::npos) << m;

  write_cifar100(tmp.path(), 2, 2);
  bytes = read_bytes(tmp / "cifar-100-binary/test.bin");
  bytes[0] = 20;  // a coarse label out of range is caught even when fine labels are used
  write_bytes(tmp / "cifar-100-binary/test.bin", bytes);
  m = error_of([&] { load_dataset(options_for("cifar100", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("test.bin: record 0 (byte 0) has label 20, out of range 0..19"), std::string::npos) << m;
  bytes[0] = 0;
  bytes[3074 + 1] = 100;
  write_bytes(tmp / "cifar-100-binary/test.bin", bytes);
  m = error_of([&] { load_dataset(options_for("cifar100", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("record 1 (byte 3075) has label 100, out of range 0..99"), std::string::npos) << m;

  write_stl10(tmp.path(), 2, 2);
  write_bytes(tmp / "stl10_binary/test_y.bin", {3, 0});
  m = error_of([&] { load_dataset(options_for("stl10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("test_y.bin: label 0 of image 1 is out of range 1..10"), std::string::npos) << m;
  write_bytes(tmp / "stl10_binary/test_y.bin", {11, 1});
  m = error_of([&] { load_dataset(options_for("stl10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("label 11 of image 0"), std::string::npos) << m;
}

TEST(DataOfficial, WrongNumberOfClassNames) {
  TempDir tmp;
  write_cifar10(tmp.path(), 1);
  write_text(tmp / "cifar-10-batches-bin/batches.meta.txt", "a\nb\n\n");
  std::string m = error_of([&] { load_dataset(options_for("cifar10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("holds 2 class names, expected 10"), std::string::npos) << m;
}

TEST(DataOfficial, PickleReleasePointsAtFetchData) {
  TempDir tmp;
  make_dirs(tmp / "cifar-10-batches-py");
  write_text(tmp / "cifar-10-batches-py/data_batch_1", "pickle");
  std::string m = error_of([&] { load_dataset(options_for("", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("python-pickle release"), std::string::npos) << m;
  EXPECT_NE(m.find("tools/fetch-data cifar10 --data " + tmp.path()), std::string::npos) << m;
  m = error_of([&] { load_dataset(options_for("cifar10", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("tools/fetch-data cifar10"), std::string::npos) << m;
  TempDir t100;
  make_dirs(t100 / "cifar-100-python");
  m = error_of([&] { load_dataset(options_for("", t100.path(), t100 / "cache")); });
  EXPECT_NE(m.find("tools/fetch-data cifar100"), std::string::npos) << m;
}

TEST(DataOfficial, UnknownDatasetAndOrder) {
  TempDir tmp;
  std::string m = error_of([&] { load_dataset(options_for("mnist", tmp.path(), tmp / "cache")); });
  EXPECT_NE(m.find("unknown dataset 'mnist'"), std::string::npos) << m;
  DataOptions o = options_for("synthetic", tmp.path(), tmp / "cache");
  o.order = "random";
  m = error_of([&] { load_dataset(o); });
  EXPECT_NE(m.find("--order"), std::string::npos) << m;
}
