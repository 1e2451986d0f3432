// tools/fetch-data, offline: small archives made here stand in for the official releases (their
// md5 given through DYBAT_FETCH_MD5), read from a local path or a file:// URL (curl), then loaded.
#include "support/paths.h"
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "support/data_files.h"
#include "data/dataset.h"

using namespace dybat;
using namespace dybat::test;
namespace fs = std::filesystem;

namespace {

struct Shell {
  int code = -1;
  std::string output;  // stdout and stderr together
};

Shell shell(const std::string& cmd) {
  Shell r;
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The script's path, quoted for the shell.
const std::string& fetch_data() {
  static const std::string path = std::string("'") + dybat::test::source_dir() + "/tools/fetch-data'";
  return path;
}

// A tar.gz of `folder` (made under src/) and its md5.
std::pair<std::string, std::string> make_archive(const TempDir& tmp, const std::string& folder,
                                                 const std::string& name) {
  const std::string archive = tmp / name;
  Shell t = shell("tar czf '" + archive + "' -C '" + (tmp / "src") + "' '" + folder + "'");
  EXPECT_EQ(t.code, 0) << t.output;
  Shell m = shell("md5sum '" + archive + "' | cut -d' ' -f1");
  EXPECT_EQ(m.code, 0) << m.output;
  return {archive, m.output.substr(0, 32)};
}

}  // namespace

TEST(DataFetch, UnpacksAVerifiedLocalArchiveThatThenLoads) {
  TempDir tmp;
  write_cifar10(tmp / "src", 2);
  auto [archive, md5] = make_archive(tmp, "cifar-10-batches-bin", "cifar-10-binary.tar.gz");
  const std::string data = tmp / "data";
  Shell r =
      shell("DYBAT_FETCH_MD5=" + md5 + " " + fetch_data() + " cifar10 --data '" + data + "' --url '" + archive + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("cifar10 ready in"), std::string::npos) << r.output;
  EXPECT_EQ(list_tree(data).size(), 8u) << "the folder and its 7 files, nothing else";
  EXPECT_TRUE(fs::exists(archive)) << "a local archive is left where it was";
  Dataset d = load_dataset(options_for("", data, tmp / "cache"));
  EXPECT_EQ(d.name, "cifar10");
  EXPECT_EQ(d.train.size(), 10);
  // A second run finds it in place.
  r = shell(fetch_data() + " cifar10 --data '" + data + "' --url '" + archive + "'");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("already present"), std::string::npos) << r.output;
}

TEST(DataFetch, FileUrlGoesThroughCurlAndKeepKeepsTheArchive) {
  TempDir tmp;
  write_stl10(tmp / "src", 1, 1);
  auto [archive, md5] = make_archive(tmp, "stl10_binary", "stl10_binary.tar.gz");
  const std::string data = tmp / "data";
  Shell r = shell("DYBAT_FETCH_MD5=" + md5 + " " + fetch_data() + " stl10 --keep --data='" + data + "' --url 'file://" +
                  archive + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::is_directory(data + "/stl10_binary"));
  EXPECT_TRUE(fs::exists(data + "/stl10_binary.tar.gz"));
  EXPECT_EQ(list_tree(data).size(), 7u) << "the folder, its 5 files and the kept archive";
  EXPECT_EQ(load_dataset(options_for("stl10", data, tmp / "cache", 96)).test.size(), 1);
}

TEST(DataFetch, WrongMd5LeavesNothing) {
  TempDir tmp;
  write_cifar100(tmp / "src", 2, 1);
  auto [archive, md5] = make_archive(tmp, "cifar-100-binary", "cifar-100-binary.tar.gz");
  const std::string data = tmp / "data";
  // No override: the official md5 does not match this small archive.
  Shell r = shell(fetch_data() + " cifar100 --data '" + data + "' --url '" + archive + "'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("expected 03b5dce01913d631647c71ecec9e9cb8"), std::string::npos) << r.output;
  EXPECT_TRUE(list_tree(data).empty());
  r = shell(fetch_data() + " cifar100 --data '" + data + "' --url 'file://" + archive + "'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(list_tree(data).empty()) << "the downloaded copy is removed";
}

TEST(DataFetch, OfflineOrMissingSourceSaysWhatToFetchByHand) {
  TempDir tmp;
  const std::string data = tmp / "data";
  Shell r = shell(fetch_data() + " cifar10 --data '" + data + "' --url '" + (tmp / "absent.tar.gz") + "'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"), std::string::npos) << r.output;
  // Nothing listens on the discard port: the same failure as a machine without network.
  r = shell(fetch_data() + " cifar10 --data '" + data + "' --url http://127.0.0.1:9/cifar-10-binary.tar.gz");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("could not download http://127.0.0.1:9/cifar-10-binary.tar.gz"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("by hand"), std::string::npos) << r.output;
  EXPECT_TRUE(list_tree(data).empty());
}

TEST(DataFetch, BadArgumentsAndForeignArchives) {
  TempDir tmp;
  Shell r = shell(fetch_data() + " mnist");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("unknown dataset 'mnist'"), std::string::npos) << r.output;
  EXPECT_EQ(shell(fetch_data()).code, 2);
  EXPECT_EQ(shell(fetch_data() + " cifar10 --bogus").code, 2);
  // An archive with the right md5 but not the expected folder.
  write_text(tmp / "src/other/file.txt", "x");
  auto [archive, md5] = make_archive(tmp, "other", "other.tar.gz");
  const std::string data = tmp / "data";
  r = shell("DYBAT_FETCH_MD5=" + md5 + " " + fetch_data() + " cifar10 --data '" + data + "' --url '" + archive + "'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("does not hold the folder cifar-10-batches-bin/"), std::string::npos) << r.output;
  EXPECT_TRUE(list_tree(data).empty());
  // Not an archive at all.
  write_text(tmp / "junk.tar.gz", "junk");
  Shell m = shell("md5sum '" + (tmp / "junk.tar.gz") + "' | cut -d' ' -f1");
  r = shell("DYBAT_FETCH_MD5=" + m.output.substr(0, 32) + " " + fetch_data() + " cifar10 --data '" + data +
            "' --url '" + (tmp / "junk.tar.gz") + "'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot unpack"), std::string::npos) << r.output;
  EXPECT_TRUE(list_tree(data).empty());
}
