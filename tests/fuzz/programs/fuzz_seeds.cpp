// fuzz_seeds DIR [TARGET...]: writes each target's seed inputs to DIR/<target>/seed-<n> (all
// targets when none is named). The seed corpora are generated, not stored in the repository.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fuzz/targets.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_seeds DIR [TARGET...]\n");
    return 2;
  }
  std::vector<const dybat::fuzz::Target*> chosen;
  for (int i = 2; i < argc; ++i) {
    const dybat::fuzz::Target* t = dybat::fuzz::find_target(argv[i]);
    if (t == nullptr) {
      std::fprintf(stderr, "fuzz_seeds: no target named '%s'\n", argv[i]);
      return 2;
    }
    chosen.push_back(t);
  }
  if (chosen.empty())
    for (const auto& t : dybat::fuzz::targets()) chosen.push_back(&t);
  for (const dybat::fuzz::Target* t : chosen) {
    const fs::path dir = fs::path(argv[1]) / t->name;
    fs::create_directories(dir);
    int n = 0;
    for (const dybat::fuzz::Bytes& seed : t->seeds()) {
      std::ofstream f(dir / ("seed-" + std::to_string(n++)), std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(seed.data()), static_cast<std::streamsize>(seed.size()));
      if (!f) {
        std::fprintf(stderr, "fuzz_seeds: cannot write into %s\n", dir.c_str());
        return 1;
      }
    }
    std::printf("%s: %d seeds in %s\n", t->name, n, dir.c_str());
  }
  return 0;
}
