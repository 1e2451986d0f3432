// The decoded-dataset cache file (see cache.h).
#include "data/cache.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "data/io.h"

namespace dybat {

namespace {

constexpr char kMagic[8] = {'D', 'Y', 'B', 'A', 'T', 'D', 'S', '1'};

struct Header {
  char magic[8];
  uint64_t key;
  int64_t n, h, w, num_classes;
};

}  // namespace

std::optional<Split> cache_read(const std::string& path, uint64_t key, int64_t num_classes) {
  // Any problem means "no usable cache": the caller decodes and rewrites it.
  std::error_code ec;
  const auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (ec || file_bytes < static_cast<int64_t>(sizeof(Header))) return std::nullopt;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::nullopt;
  Header hd;
  bool ok = std::fread(&hd, sizeof hd, 1, f) == 1 && std::memcmp(hd.magic, kMagic, 8) == 0 && hd.key == key &&
            hd.num_classes == num_classes && hd.n >= 0 && hd.h > 0 && hd.w > 0 && hd.h <= 65536 && hd.w <= 65536;
  // Bounding n by what the file can hold first keeps the products below from overflowing.
  ok = ok && hd.n <= file_bytes / (8 + 3 * hd.h * hd.w);
  const int64_t image_bytes = ok ? hd.n * 3 * hd.h * hd.w : 0;
  ok = ok && file_bytes == static_cast<int64_t>(sizeof hd) + hd.n * 8 + image_bytes;
  Split s;
  if (ok) {
    s.labels = Tensor::empty({hd.n}, DType::Int64);
    s.images = Tensor::empty({hd.n, 3, hd.h, hd.w}, DType::UInt8);
    ok = std::fread(s.labels.data<int64_t>(), 8, static_cast<size_t>(hd.n), f) == static_cast<size_t>(hd.n) &&
         std::fread(s.images.data<uint8_t>(), 1, static_cast<size_t>(image_bytes), f) ==
             static_cast<size_t>(image_bytes);
  }
  std::fclose(f);
  if (!ok) return std::nullopt;
  const int64_t* lab = s.labels.data<int64_t>();
  for (int64_t i = 0; i < hd.n; ++i)
    if (lab[i] < 0 || lab[i] >= num_classes) return std::nullopt;
  return s;
}

bool cache_write(const std::string& path, uint64_t key, int64_t num_classes, const Split& split, std::string* why) {
  Header hd;
  std::memcpy(hd.magic, kMagic, 8);
  hd.key = key;
  hd.n = split.size();
  hd.h = split.images.size(2);
  hd.w = split.images.size(3);
  hd.num_classes = num_classes;
  return io::write_atomic(
      path,
      [&](std::FILE* f) {
        const size_t image_bytes = static_cast<size_t>(split.images.numel());
        return std::fwrite(&hd, sizeof hd, 1, f) == 1 &&
               std::fwrite(split.labels.data<int64_t>(), 8, static_cast<size_t>(hd.n), f) ==
                   static_cast<size_t>(hd.n) &&
               std::fwrite(split.images.data<uint8_t>(), 1, image_bytes, f) == image_bytes;
      },
      why);
}

std::string default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') return std::string(x) + "/dybat";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return std::string(h) + "/.cache/dybat";
  return "";
}

}  // namespace dybat
