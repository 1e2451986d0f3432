// The fuzz targets in the regular suite: every seed runs cleanly (and the valid ones are
// accepted, so the targets reach past the first check), and every input a fuzzer once crashed on,
// kept under tests/fuzz/regressions/<target>/, now runs cleanly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "fuzz/targets.h"
#include "support/paths.h"

namespace fs = std::filesystem;
using dybat::fuzz::Bytes;

namespace {

std::string describe(const std::exception& e) { return e.what(); }

bool run_clean(const dybat::fuzz::Target& t, const Bytes& input, const std::string& name, bool* accepted) {
  try {
    *accepted = t.run(input.data(), input.size());
    return true;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "fuzz target " << t.name << ", input " << name << ": " << describe(e);
    return false;
  }
}

}  // namespace

TEST(FuzzTargets, SeedsRunAndTheValidOnesAreAccepted) {
  // How many of each target's seeds are valid inputs (the rest are deliberate near misses).
  const std::map<std::string, int> valid = {{"safetensors", 6}, {"cifar10", 2}, {"cifar100", 2},
                                            {"stl10", 1},       {"image", 17},  {"cli", 5},
                                            {"cache", 3}};
  for (const auto& t : dybat::fuzz::targets()) {
    std::vector<Bytes> seeds = t.seeds();
    int accepted = 0, n = 0;
    for (const Bytes& s : seeds) {
      bool ok = false;
      if (run_clean(t, s, "seed-" + std::to_string(n++), &ok) && ok) ++accepted;
    }
    ASSERT_TRUE(valid.count(t.name)) << t.name;
    EXPECT_EQ(accepted, valid.at(t.name)) << "target " << t.name << ": accepted " << accepted << " of "
                                          << seeds.size() << " seeds";
  }
}

TEST(FuzzTargets, FramingRoundTrips) {
  std::vector<std::optional<Bytes>> files = {Bytes{1, 2, 3}, std::nullopt, Bytes{}, Bytes{9}};
  Bytes joined = dybat::fuzz::join_files(files);
  EXPECT_EQ(dybat::fuzz::split_files(joined.data(), joined.size(), 4), files);
  // Cut short: the last file is truncated and the ones after it are absent.
  auto cut = dybat::fuzz::split_files(joined.data(), 9, 4);
  EXPECT_EQ(cut[0], (Bytes{1, 2, 3}));
  EXPECT_FALSE(cut[1].has_value());
  EXPECT_FALSE(cut[2].has_value());
  EXPECT_FALSE(cut[3].has_value());
}

TEST(FuzzTargets, KeptCrashInputsRunCleanly) {
  const fs::path root = fs::path(dybat::test::source_dir()) / "tests" / "fuzz" / "regressions";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  int replayed = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const std::string name = dir.path().filename().string();
    const dybat::fuzz::Target* t = dybat::fuzz::find_target(name);
    ASSERT_NE(t, nullptr) << "regressions/" << name << " names no fuzz target";
    std::vector<fs::path> inputs;
    for (const auto& f : fs::directory_iterator(dir.path()))
      if (f.is_regular_file() && f.path().filename() != "README") inputs.push_back(f.path());
    std::sort(inputs.begin(), inputs.end());
    for (const fs::path& p : inputs) {
      std::ifstream in(p, std::ios::binary);
      Bytes input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      bool accepted = false;
      run_clean(*t, input, p.string(), &accepted);
      ++replayed;
    }
  }
  std::printf("replayed %d kept fuzz inputs\n", replayed);
}
