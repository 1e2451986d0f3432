// Datasets resident on a device, and the batch gather that feeds training and evaluation.
//
// A split is kept whole on the device as uint8 (official datasets at their stored resolution,
// image folders already resized to the crop), with int64 labels. A batch is assembled by one
// kernel that reads the batch id from device memory, so a caller on the GPU never has to tell the
// host which batch it wants (DyBAT's selection runs on the device).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dybat {

struct Split {
  Tensor images;  // uint8 [N, 3, H, W] on the dataset's device
  Tensor labels;  // int64 [N] on the dataset's device
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct Dataset {
  std::string name;                  // "cifar10", "cifar100", "stl10", "folder", "synthetic"
  std::vector<std::string> classes;  // class names, index = label
  Split train, test;
  int num_classes() const { return static_cast<int>(classes.size()); }
};

struct DataOptions {
  std::string dataset;          // cifar10, cifar100, stl10, folder, synthetic; "" = first found under root
  std::string root = "./data";  // as torchvision's root folder
  int crop = 128;               // images are resized to crop x crop (Pillow bilinear)
  std::string labels = "fine";  // CIFAR-100: fine or coarse
  std::string order = "shuffled";  // image folders: "shuffled" (fixed seeded order) or "file"
  bool permute = false;         // one seeded permutation of both splits at load
  uint64_t seed = 0;
  int64_t train_limit = 0;      // keep only the first N samples of a split (0 = all)
  int64_t test_limit = 0;
  std::string cache_dir;        // "" = next to the data if writable, else ~/.cache/dybat
  int64_t synthetic_train = 5000;  // sizes of the built-in synthetic dataset
  int64_t synthetic_test = 1000;
  Device device = Device::cpu();
};

// Loads (or reads from cache) the dataset and places it on opt.device. Progress and notices
// (e.g. "no dataset found, using the synthetic set") go to `log`. Throws dybat::Error with the
// file or folder named on bad input.
Dataset load_dataset(const DataOptions& opt, const std::function<void(const std::string&)>& log = nullptr);

struct AugmentOptions {
  bool random_crop = false;  // pad 4 pixels (at crop scale) and crop back at a random offset
  bool flip = false;         // horizontal flip with probability 1/2
};

// Assembles normalised float batches from a split: batch i is samples [i*B, (i+1)*B)
// (drop_last, fixed order). Resize to the crop (Pillow's bilinear, when the split is stored at
// another size), scale to [0,1] and normalise with the ImageNet mean/std, exactly as torchvision.
class BatchLoader {
 public:
  BatchLoader(const Split& split, int64_t batch_size, int crop, AugmentOptions augment = {});
  int64_t num_batches() const;  // floor(N / B)
  int64_t batch_size() const { return batch_size_; }
  int crop() const { return crop_; }
  // images: float32 [B, 3, crop, crop], labels: int64 [B], both on the split's device;
  // batch_id: an int64 one-element tensor on that device holding the batch index (read there).
  // aug_seed/aug_offset select the Philox stream for augmentation (ignored when off).
  void gather(const Tensor& batch_id, const Tensor& images, const Tensor& labels, uint64_t aug_seed = 0,
              uint64_t aug_offset = 0) const;

 private:
  Split split_;
  int64_t batch_size_;
  int crop_;
  AugmentOptions augment_;
  Tensor resize_tables_;  // implementation detail: precomputed resize coefficients when needed
};

}  // namespace dybat
