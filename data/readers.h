// The host-side readers behind load_dataset. Each returns a Dataset whose splits are CPU tensors
// (uint8 [N, 3, H, W] images, int64 [N] labels) in the dataset's own order; load_dataset then
// reorders, limits and moves them to the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "data/dataset.h"

namespace dybat {

using LogFn = std::function<void(const std::string&)>;

// Official binary releases under `root` (the folder that holds cifar-10-batches-bin/ etc.).
Dataset read_cifar10(const std::string& root, const LogFn& log);
Dataset read_cifar100(const std::string& root, const std::string& labels, const LogFn& log);  // "fine" or "coarse"
Dataset read_stl10(const std::string& root, const LogFn& log);

// root/train/<class>/... and root/test/<class>/..., decoded and resized to opt.crop (cached).
Dataset read_image_folder(const DataOptions& opt, const LogFn& log);

// The procedural dataset: 32x32 images, 10 classes, deterministic from `seed`.
Dataset make_synthetic(int64_t n_train, int64_t n_test, uint64_t seed);
extern const char* const kSyntheticClasses[10];

// Largest image accepted from an image folder, checked from the header before decoding.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 67 megapixels (~200 MB as RGB)
constexpr int kMaxImageSide = 1 << 16;

// Decodes the image file `path` (JPEG, PNG, BMP, PNM; grayscale, palette and alpha become RGB as
// PIL's convert("RGB")), resizes it to crop x crop (Pillow bilinear) and writes planes to out
// [3, crop, crop]. Throws naming the file when it cannot be read or decoded, or is too large.
void decode_image_file(const std::string& path, int crop, uint8_t* out);
// Files whose pixel data is shorter than their header promises (a truncated download) are
// rejected as PIL rejects them, not decoded with the missing pixels filled in.
// The same from the file's bytes in memory; `path` names it in error messages. `max_pixels`
// lowers the size limit (the fuzz target keeps each input's work small with it).
void decode_image(const uint8_t* data, size_t size, const std::string& path, int crop, uint8_t* out,
                  int64_t max_pixels = kMaxImagePixels);

}  // namespace dybat
