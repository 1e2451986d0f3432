// Test helpers for the data readers: temporary folders, and tiny files in each on-disk format
// (CIFAR-10/100 and STL-10 binaries, PNG/JPEG/BMP images) made from known pixel values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace dybat::test {

// A fresh folder under the system temp dir, removed (with everything in it) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

void make_dirs(const std::string& path);
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
void write_text(const std::string& path, const std::string& text);
std::vector<uint8_t> read_bytes(const std::string& path);
// Files and folders under `dir` (recursive), as paths relative to it, sorted.
std::vector<std::string> list_tree(const std::string& dir);

// A deterministic pixel value for (sample, channel, row, col): tests recompute it to check reads.
inline uint8_t pattern_pixel(int64_t sample, int c, int r, int col) {
  return static_cast<uint8_t>((sample * 37 + c * 85 + r * 7 + col * 3 + (r * col) % 11) & 0xff);
}

// A uint8 split of n samples of 3 x h x w, pixels pattern_pixel(i, ...), label of sample i = i.
Split pattern_split(int64_t n, int h, int w);

// CIFAR-10 batch file bytes: `labels.size()` records, pixels pattern_pixel(first + i, ...).
std::vector<uint8_t> cifar10_batch(const std::vector<int>& labels, int64_t first);
// CIFAR-100 file bytes: records [coarse][fine][pixels].
std::vector<uint8_t> cifar100_file(const std::vector<int>& coarse, const std::vector<int>& fine, int64_t first);
// A whole tiny CIFAR-10 release under root/cifar-10-batches-bin: `per_file` records in each of the
// six files; sample i of train (0..5*per_file) has label i % 10, test sample j label (j * 3) % 10,
// test pixels use pattern index 1000 + j.
void write_cifar10(const std::string& root, int per_file);
// Tiny CIFAR-100: train sample i has coarse i % 20, fine (i * 7) % 100; test offset 1000.
void write_cifar100(const std::string& root, int n_train, int n_test);
// Tiny STL-10 (column-major planes, labels 1..10): train label (i % 10) + 1, test offset 1000.
void write_stl10(const std::string& root, int n_train, int n_test);

// Images from interleaved RGB (or 1-channel gray) pixels, written with stb_image_write.
void write_png(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& pixels);
void write_bmp(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& pixels);
void write_jpeg(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& pixels,
                int quality = 100);
// A 16-bit grayscale PNG (stb_image_write writes 8-bit only, so this one is assembled here).
void write_png16_gray(const std::string& path, int w, int h, const std::vector<uint16_t>& values);
// Interleaved RGB pixels of pattern_pixel(seed, c, r, col).
std::vector<uint8_t> pattern_rgb(int64_t seed, int w, int h);

// Options for a dataset under `root` that never touch the user's cache folder.
DataOptions options_for(const std::string& dataset, const std::string& root, const std::string& cache_dir,
                        int crop = 32);

}  // namespace dybat::test
