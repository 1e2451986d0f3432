// Fuzz target "cache": the decoded-dataset cache reader (a file in the data folder that any
// earlier run, or anything else, may have left damaged). An accepted file must hold labels in
// range, and writing what was read gives the same bytes back.
#include <cstdio>
#include <cstring>
#include <tuple>

#include "data/cache.h"
#include "fuzz/targets.h"

namespace dybat::fuzz {

namespace {

constexpr uint64_t kKey = 0x5eedcafef00dull;
constexpr int64_t kClasses = 10;

Split tiny_split(int64_t n, int64_t h, int64_t w) {
  Split s;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back((i * 3) % kClasses);
  s.labels = Tensor::from_vector(labels, {n});
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 3 * h * w));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  s.images = Tensor::from_vector(pixels, {n, 3, h, w});
  return s;
}

Bytes file_bytes(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  Bytes out;
  if (f == nullptr) return out;
  uint8_t buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

}  // namespace

bool run_cache(const uint8_t* data, size_t size) {
  const Bytes input(data, data + size);
  put_scratch_file("input.cache", input);
  std::optional<Split> s = cache_read(scratch_dir() + "/input.cache", kKey, kClasses);
  if (!s) return false;
  for (int64_t y : s->labels.to_vector<int64_t>()) DYBAT_FUZZ_CHECK(y >= 0 && y < kClasses, "label ", y);
  std::string why;
  DYBAT_FUZZ_CHECK(cache_write(scratch_dir() + "/again.cache", kKey, kClasses, *s, &why), why);
  DYBAT_FUZZ_CHECK(file_bytes(scratch_dir() + "/again.cache") == input, "written back differently");
  return true;
}

std::vector<Bytes> seeds_cache() {
  std::vector<Bytes> seeds;
  for (auto [n, h, w] : {std::tuple<int64_t, int64_t, int64_t>{2, 4, 3}, {1, 8, 8}, {0, 2, 2}}) {
    std::string why;
    const std::string path = scratch_dir() + "/seed.cache";
    if (!cache_write(path, kKey, kClasses, tiny_split(n, h, w), &why)) throw std::runtime_error(why);
    seeds.push_back(file_bytes(path));
  }
  return seeds;
}

}  // namespace dybat::fuzz
