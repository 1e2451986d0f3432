// The decoded-dataset cache: written next to the data, reused while the sources are unchanged,
// rebuilt when a file, its time or the crop changes, moved to the cache folder when the data
// folder is read-only (never an error), robust to a damaged file, and never left half-written.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "support/data_files.h"
#include "data/dataset.h"

using namespace dybat;
using namespace dybat::test;
namespace fs = std::filesystem;

namespace {

struct Loaded {
  Dataset d;
  std::vector<std::string> log;
  bool decoded() const {
    for (auto& m : log)
      if (m.find("decoded") != std::string::npos) return true;
    return false;
  }
  bool from_cache(const std::string& path) const {
    for (auto& m : log)
      if (m.find("from cache " + path) != std::string::npos) return true;
    return false;
  }
};

Loaded load(const DataOptions& o) {
  Loaded l;
  l.d = load_dataset(o, [&](const std::string& m) { l.log.push_back(m); });
  return l;
}

void make_folder(const TempDir& tmp) {
  for (const char* split : {"train", "test"})
    for (int i = 0; i < 12; ++i)
      write_png(tmp / "root/" + split + "/c" + std::to_string(i % 3) + "/" + std::to_string(i) + ".png", 10, 6, 3,
                pattern_rgb(i, 10, 6));
}

DataOptions opts(const TempDir& tmp, int crop = 8) {
  DataOptions o = options_for("folder", tmp / "root", tmp / "cache", crop);
  return o;
}

bool no_temp_files(const std::string& dir) {
  if (!fs::exists(dir)) return true;
  for (auto& f : list_tree(dir))
    if (f.find(".tmp.") != std::string::npos) return false;
  return true;
}

}  // namespace

TEST(DataCache, WrittenNextToTheDataAndReused) {
  TempDir tmp;
  make_folder(tmp);
  Loaded first = load(opts(tmp));
  EXPECT_TRUE(first.decoded());
  const std::string train_cache = tmp / "root/dybat-train-c8.cache", test_cache = tmp / "root/dybat-test-c8.cache";
  ASSERT_TRUE(fs::exists(train_cache));
  ASSERT_TRUE(fs::exists(test_cache));
  EXPECT_FALSE(fs::exists(tmp / "cache")) << "nothing goes to the cache folder when the data folder is writable";
  Loaded second = load(opts(tmp));
  EXPECT_FALSE(second.decoded());
  EXPECT_TRUE(second.from_cache(train_cache));
  EXPECT_TRUE(second.from_cache(test_cache));
  EXPECT_EQ(second.d.train.images.to_vector<uint8_t>(), first.d.train.images.to_vector<uint8_t>());
  EXPECT_EQ(second.d.train.labels.to_vector<int64_t>(), first.d.train.labels.to_vector<int64_t>());
  EXPECT_EQ(second.d.test.images.to_vector<uint8_t>(), first.d.test.images.to_vector<uint8_t>());
  EXPECT_EQ(second.d.classes, first.d.classes);
  EXPECT_TRUE(no_temp_files(tmp / "root"));
  // Another crop is another cache file.
  Loaded other = load(opts(tmp, 6));
  EXPECT_TRUE(other.decoded());
  EXPECT_TRUE(fs::exists(tmp / "root/dybat-train-c6.cache"));
}

TEST(DataCache, ChangedSourcesInvalidateIt) {
  TempDir tmp;
  make_folder(tmp);
  Loaded first = load(opts(tmp));
  // New content of another size: the image changes in the next load.
  write_png(tmp / "root/train/c1/4.png", 12, 6, 3, pattern_rgb(99, 12, 6));
  Loaded second = load(opts(tmp));
  EXPECT_TRUE(second.decoded());
  EXPECT_NE(second.d.train.images.to_vector<uint8_t>(), first.d.train.images.to_vector<uint8_t>());
  EXPECT_EQ(second.d.test.images.to_vector<uint8_t>(), first.d.test.images.to_vector<uint8_t>());
  // Only the modification time changes.
  Loaded third = load(opts(tmp));
  EXPECT_FALSE(third.decoded());
  const std::string f = tmp / "root/test/c0/3.png";
  fs::last_write_time(f, fs::last_write_time(f) - std::chrono::hours(1));
  Loaded fourth = load(opts(tmp));
  EXPECT_TRUE(fourth.decoded());
  // A file added, a file removed.
  write_png(tmp / "root/test/c2/extra.png", 10, 6, 3, pattern_rgb(5, 10, 6));
  Loaded fifth = load(opts(tmp));
  EXPECT_EQ(fifth.d.test.size(), 13);
  fs::remove(tmp / "root/test/c2/extra.png");
  Loaded sixth = load(opts(tmp));
  EXPECT_EQ(sixth.d.test.size(), 12);
  EXPECT_TRUE(sixth.decoded());
}

TEST(DataCache, DamagedOrForeignFilesAreIgnoredAndRewritten) {
  TempDir tmp;
  make_folder(tmp);
  Loaded first = load(opts(tmp));
  const std::string cache = tmp / "root/dybat-train-c8.cache";
  auto bytes = read_bytes(cache);
  // Cut short, as a write interrupted without the atomic rename would leave it.
  write_bytes(cache, std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  Loaded second = load(opts(tmp));
  EXPECT_TRUE(second.decoded());
  EXPECT_EQ(second.d.train.images.to_vector<uint8_t>(), first.d.train.images.to_vector<uint8_t>());
  EXPECT_EQ(read_bytes(cache), bytes) << "rewritten whole";
  // A label out of range inside an otherwise valid file.
  auto bad = bytes;
  bad[48] = 77;  // first label (after the 48-byte header)
  write_bytes(cache, bad);
  Loaded third = load(opts(tmp));
  EXPECT_TRUE(third.decoded());
  EXPECT_EQ(third.d.train.labels.to_vector<int64_t>(), first.d.train.labels.to_vector<int64_t>());
  // Garbage.
  write_text(cache, "not a cache");
  EXPECT_TRUE(load(opts(tmp)).decoded());
  EXPECT_TRUE(no_temp_files(tmp / "root"));
}

TEST(DataCache, ReadOnlyDataFolderUsesTheCacheFolder) {
  TempDir tmp;
  make_folder(tmp);
  fs::permissions(tmp / "root", fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  Loaded first = load(opts(tmp));
  EXPECT_TRUE(first.decoded());
  EXPECT_FALSE(fs::exists(tmp / "root/dybat-train-c8.cache"));
  auto files = list_tree(tmp / "cache");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].find("-dybat-test-c8.cache"), std::string::npos) << files[0];
  EXPECT_NE(files[1].find("-dybat-train-c8.cache"), std::string::npos) << files[1];
  Loaded second = load(opts(tmp));
  EXPECT_FALSE(second.decoded());
  EXPECT_TRUE(second.from_cache(tmp / "cache/" + files[1]));
  EXPECT_EQ(second.d.train.images.to_vector<uint8_t>(), first.d.train.images.to_vector<uint8_t>());
  // Another data folder with the same layout gets its own cache files.
  TempDir other;
  make_folder(other);
  DataOptions o = opts(other);
  o.cache_dir = tmp / "cache";
  fs::permissions(other / "root", fs::perms::owner_write, fs::perm_options::remove);
  fs::permissions(other / "root", fs::perms::group_write | fs::perms::others_write, fs::perm_options::remove);
  EXPECT_TRUE(load(o).decoded());
  EXPECT_EQ(list_tree(tmp / "cache").size(), 4u);
}

TEST(DataCache, NoWritableFolderAtAllIsNotAnError) {
  TempDir tmp;
  make_folder(tmp);
  fs::permissions(tmp / "root", fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  write_text(tmp / "blocker", "a file where the cache folder would go");
  DataOptions o = opts(tmp);
  o.cache_dir = tmp / "blocker/cache";
  Loaded l = load(o);
  EXPECT_EQ(l.d.train.size(), 12);
  bool said = false;
  for (auto& m : l.log) said |= m.find("not cached") != std::string::npos;
  EXPECT_TRUE(said);
  EXPECT_TRUE(load(o).decoded());
}

TEST(DataCache, OffMeansNoFiles) {
  TempDir tmp;
  make_folder(tmp);
  DataOptions o = opts(tmp);
  o.use_cache = false;
  EXPECT_TRUE(load(o).decoded());
  EXPECT_TRUE(load(o).decoded());
  EXPECT_FALSE(fs::exists(tmp / "root/dybat-train-c8.cache"));
  EXPECT_FALSE(fs::exists(tmp / "cache"));
}

TEST(DataCache, ConcurrentWritersLeaveOneWholeFile) {
  TempDir tmp;
  make_folder(tmp);
  // Two loads at once both decode and both write; each write is a rename of a complete file,
  // so the survivor is whole and a later load reuses it.
  std::vector<std::thread> threads;
  std::vector<Dataset> out(2);
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      DataOptions o = opts(tmp);
      o.threads = 1;
      out[t] = load_dataset(o);
    });
  for (auto& th : threads) th.join();
  EXPECT_TRUE(no_temp_files(tmp / "root"));
  Loaded again = load(opts(tmp));
  EXPECT_FALSE(again.decoded());
  EXPECT_EQ(again.d.train.images.to_vector<uint8_t>(), out[0].train.images.to_vector<uint8_t>());
}
