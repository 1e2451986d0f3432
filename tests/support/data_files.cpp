// Test helpers for the data readers (see data_files.h).
#include "support/data_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "support/stb_image_write_static.h"

namespace fs = std::filesystem;

namespace dybat::test {

TempDir::TempDir() {
  std::string templ = (fs::temp_directory_path() / "dybat-data-XXXXXX").string();
  char* p = ::mkdtemp(templ.data());
  if (p == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Read-only folders made by a test are made writable again so they can be removed.
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_directory(ec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

void make_dirs(const std::string& path) { fs::create_directories(path); }

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

void write_text(const std::string& path, const std::string& text) {
  write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::vector<std::string> list_tree(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
void append_planes(std::vector<uint8_t>& out, int64_t sample, int size, bool column_major) {
  for (int c = 0; c < 3; ++c)
    for (int a = 0; a < size; ++a)
      for (int b = 0; b < size; ++b)
        out.push_back(column_major ? pattern_pixel(sample, c, b, a) : pattern_pixel(sample, c, a, b));
}
}  // namespace

std::vector<uint8_t> cifar10_batch(const std::vector<int>& labels, int64_t first) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < labels.size(); ++i) {
    out.push_back(static_cast<uint8_t>(labels[i]));
    append_planes(out, first + static_cast<int64_t>(i), 32, false);
  }
  return out;
}

std::vector<uint8_t> cifar100_file(const std::vector<int>& coarse, const std::vector<int>& fine, int64_t first) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < fine.size(); ++i) {
    out.push_back(static_cast<uint8_t>(coarse[i]));
    out.push_back(static_cast<uint8_t>(fine[i]));
    append_planes(out, first + static_cast<int64_t>(i), 32, false);
  }
  return out;
}

void write_cifar10(const std::string& root, int per_file) {
  const std::string dir = root + "/cifar-10-batches-bin";
  const char* names[] = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  std::string meta;
  for (const char* n : names) meta += std::string(n) + "\n";
  write_text(dir + "/batches.meta.txt", meta + "\n");  // the release ends with an empty line
  for (int k = 1; k <= 5; ++k) {
    std::vector<int> labels;
    for (int r = 0; r < per_file; ++r) labels.push_back(((k - 1) * per_file + r) % 10);
    write_bytes(dir + "/data_batch_" + std::to_string(k) + ".bin", cifar10_batch(labels, (k - 1) * per_file));
  }
  std::vector<int> labels;
  for (int j = 0; j < per_file; ++j) labels.push_back((j * 3) % 10);
  write_bytes(dir + "/test_batch.bin", cifar10_batch(labels, 1000));
}

void write_cifar100(const std::string& root, int n_train, int n_test) {
  const std::string dir = root + "/cifar-100-binary";
  std::string fine, coarse;
  for (int i = 0; i < 100; ++i) fine += "fine" + std::to_string(100 + i) + "\n";
  for (int i = 0; i < 20; ++i) coarse += "coarse" + std::to_string(100 + i) + "\n";
  write_text(dir + "/fine_label_names.txt", fine);
  write_text(dir + "/coarse_label_names.txt", coarse);
  auto make = [](int n, int64_t first) {
    std::vector<int> c, f;
    for (int i = 0; i < n; ++i) {
      c.push_back(static_cast<int>((first + i) % 20));
      f.push_back(static_cast<int>(((first + i) * 7) % 100));
    }
    return cifar100_file(c, f, first);
  };
  write_bytes(dir + "/train.bin", make(n_train, 0));
  write_bytes(dir + "/test.bin", make(n_test, 1000));
}

void write_stl10(const std::string& root, int n_train, int n_test) {
  const std::string dir = root + "/stl10_binary";
  write_text(dir + "/class_names.txt", "airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n");
  auto write_split = [&](const char* split, int n, int64_t first) {
    std::vector<uint8_t> x, y;
    for (int i = 0; i < n; ++i) {
      append_planes(x, first + i, 96, true);
      y.push_back(static_cast<uint8_t>((first + i) % 10 + 1));
    }
    write_bytes(dir + "/" + split + "_X.bin", x);
    write_bytes(dir + "/" + split + "_y.bin", y);
  };
  write_split("train", n_train, 0);
  write_split("test", n_test, 1000);
}

void write_png(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& pixels) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, channels, pixels.data(), w * channels), 0) << path;
}

void write_bmp(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& pixels) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_NE(stbi_write_bmp(path.c_str(), w, h, channels, pixels.data()), 0) << path;
}

void write_jpeg(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& pixels, int quality) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_NE(stbi_write_jpg(path.c_str(), w, h, channels, pixels.data(), quality), 0) << path;
}

void write_png16_gray(const std::string& path, int w, int h, const std::vector<uint16_t>& values) {
  auto be32 = [](std::vector<uint8_t>& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  };
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    be32(png, static_cast<uint32_t>(data.size()));
    std::vector<uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    png.insert(png.end(), body.begin(), body.end());
    be32(png, stbiw__crc32(body.data(), static_cast<int>(body.size())));
  };
  std::vector<uint8_t> ihdr;
  be32(ihdr, static_cast<uint32_t>(w));
  be32(ihdr, static_cast<uint32_t>(h));
  ihdr.insert(ihdr.end(), {16, 0, 0, 0, 0});  // 16 bits, grayscale, no interlace
  chunk("IHDR", ihdr);
  std::vector<uint8_t> raw;  // each row: filter byte 0, then big-endian samples
  for (int r = 0; r < h; ++r) {
    raw.push_back(0);
    for (int c = 0; c < w; ++c) {
      raw.push_back(static_cast<uint8_t>(values[r * w + c] >> 8));
      raw.push_back(static_cast<uint8_t>(values[r * w + c] & 0xff));
    }
  }
  int zlen = 0;
  unsigned char* z = stbi_zlib_compress(raw.data(), static_cast<int>(raw.size()), &zlen, 8);
  chunk("IDAT", std::vector<uint8_t>(z, z + zlen));
  STBIW_FREE(z);
  chunk("IEND", {});
  write_bytes(path, png);
}

std::vector<uint8_t> pattern_rgb(int64_t seed, int w, int h) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * 3);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int ch = 0; ch < 3; ++ch) p[(static_cast<size_t>(r) * w + c) * 3 + ch] = pattern_pixel(seed, ch, r, c);
  return p;
}

DataOptions options_for(const std::string& dataset, const std::string& root, const std::string& cache_dir, int crop) {
  DataOptions o;
  o.dataset = dataset;
  o.root = root;
  o.cache_dir = cache_dir;
  o.crop = crop;
  return o;
}

Split pattern_split(int64_t n, int h, int w) {
  Split s;
  s.images = Tensor::empty({n, 3, h, w}, DType::UInt8);
  s.labels = Tensor::empty({n}, DType::Int64);
  uint8_t* p = s.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    s.labels.data<int64_t>()[i] = i;
    for (int c = 0; c < 3; ++c)
      for (int r = 0; r < h; ++r)
        for (int col = 0; col < w; ++col) p[((i * 3 + c) * h + r) * w + col] = pattern_pixel(i, c, r, col);
  }
  return s;
}

}  // namespace dybat::test
