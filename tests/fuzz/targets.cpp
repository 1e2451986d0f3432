// The table of fuzz targets, the multi-file framing and the scratch folder (see targets.h).
#include "fuzz/targets.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace dybat::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> table = {
      {"safetensors", run_safetensors, seeds_safetensors}, {"cifar10", run_cifar10, seeds_cifar10},
      {"cifar100", run_cifar100, seeds_cifar100},          {"stl10", run_stl10, seeds_stl10},
      {"image", run_image, seeds_image},                   {"cli", run_cli, seeds_cli},
      {"cache", run_cache, seeds_cache},
  };
  return table;
}

const Target* find_target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

std::vector<std::optional<Bytes>> split_files(const uint8_t* data, size_t size, size_t count) {
  std::vector<std::optional<Bytes>> files(count);
  size_t pos = 0;
  for (size_t i = 0; i < count && size - pos >= 4; ++i) {
    uint32_t len = static_cast<uint32_t>(data[pos]) | static_cast<uint32_t>(data[pos + 1]) << 8 |
                   static_cast<uint32_t>(data[pos + 2]) << 16 | static_cast<uint32_t>(data[pos + 3]) << 24;
    pos += 4;
    if (len == 0xffffffffu) continue;
    size_t n = std::min<size_t>(len, size - pos);
    files[i] = Bytes(data + pos, data + pos + n);
    pos += n;
  }
  return files;
}

Bytes join_files(const std::vector<std::optional<Bytes>>& files) {
  Bytes out;
  for (const auto& f : files) {
    uint32_t len = f ? static_cast<uint32_t>(f->size()) : 0xffffffffu;
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<uint8_t>(len >> (8 * b)));
    if (f) out.insert(out.end(), f->begin(), f->end());
  }
  return out;
}

namespace {

struct Scratch {
  std::string path;
  Scratch() {
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm")
                                                                                         : fs::temp_directory_path();
    std::string templ = (base / "dybat-fuzz-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("fuzz: cannot create a scratch folder");
    path = templ;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

const std::string& scratch_dir() {
  static Scratch s;
  return s.path;
}

void put_scratch_file(const std::string& rel, const std::optional<Bytes>& bytes) {
  const fs::path p = fs::path(scratch_dir()) / rel;
  std::error_code ec;
  if (!bytes) {
    fs::remove(p, ec);
    return;
  }
  fs::create_directories(p.parent_path(), ec);
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
  if (!f) throw std::runtime_error("fuzz: cannot write " + p.string());
}

}  // namespace dybat::fuzz
