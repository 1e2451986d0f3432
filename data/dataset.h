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
#include <utility>
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
  std::string dataset;             // cifar10, cifar100, stl10, folder, synthetic; "" = first found under root
  std::string root = "./data";     // as torchvision's root folder
  int crop = 128;                  // image folders are resized to crop x crop at load (Pillow bilinear);
                                   // official sets keep their size (BatchLoader resizes them)
  std::string labels = "fine";     // CIFAR-100: fine or coarse
  std::string order = "shuffled";  // image folders: "shuffled" (one fixed pseudo-random order, the
                                   // same for every --seed) or "file" (torchvision's class-grouped order)
  bool permute = false;            // one permutation of both splits at load, seeded by `seed`
  uint64_t seed = 0;               // also the seed of the synthetic set
  int64_t train_limit = 0;         // keep only the first N samples of a split, in the final order (0 = all)
  int64_t test_limit = 0;
  std::string cache_dir;           // image-folder caches go next to the data (ROOT/dybat-<split>-c<crop>.cache)
                                   // when ROOT is writable, else here; "" = $XDG_CACHE_HOME/dybat or ~/.cache/dybat
  int64_t synthetic_train = 5000;  // sizes of the built-in synthetic dataset
  int64_t synthetic_test = 1000;
  Device device = Device::cpu();
  bool use_cache = true;  // image folders: read/write the decoded cache (off: always decode)
  int threads = 0;        // image-folder decoding threads (0 = OpenMP's default)
};

// The dataset names load_dataset accepts ("" besides these means: detect under the root).
const std::vector<std::string>& dataset_names();

// Loads (or reads from cache) the dataset and places it on opt.device. Progress and notices
// (e.g. "no dataset found, using the synthetic set") go to `log`. Throws dybat::Error with the
// file or folder named on bad input.
//
// With opt.dataset "" the root is searched for cifar-10-batches-bin/, cifar-100-binary/,
// stl10_binary/, then train/ or test/ (an image folder); a root holding only torchvision's pickle
// release is an error pointing at tools/fetch-data; otherwise the synthetic set is used, with
// NOTICE lines in the log. Order of a split: the reader's order (torchvision's), then for image
// folders the fixed shuffle (unless order == "file"), then the optional permutation, then the limit.
Dataset load_dataset(const DataOptions& opt, const std::function<void(const std::string&)>& log = nullptr);

struct AugmentOptions {
  bool random_crop = false;  // pad 4 pixels (at crop scale) and crop back at a random offset
  bool flip = false;         // horizontal flip with probability 1/2
  bool any() const { return random_crop || flip; }
};

// Parses "--augment": "" or "none" (off), or a comma list of "crop" and "flip"; throws otherwise.
AugmentOptions parse_augment(const std::string& text);

struct GatherArgs;  // data/gather_math.h

// Assembles normalised float batches from a split: batch i is samples [i*B, (i+1)*B)
// (drop_last, fixed order). Resize to the crop (Pillow's bilinear, when the split is stored at
// another size), scale to [0,1] and normalise with the ImageNet mean/std, exactly as torchvision.
//
// Augmentation (when on) is decided per sample from Philox block `sample index` of the stream
// (aug_seed, aug_offset): word 0 gives the crop row offset and word 1 the column offset (each
// 0..8, 4 = centred), the top bit of word 2 the flip. The image is padded with 4 zero pixels (the
// value 0 before normalisation, as torchvision's RandomCrop(padding=4)), cropped, then flipped.
// Both backends compute the same bits, so CPU and CUDA batches are identical.
class BatchLoader {
 public:
  BatchLoader(const Split& split, int64_t batch_size, int crop, AugmentOptions augment = {});
  int64_t num_batches() const;  // floor(N / B)
  int64_t batch_size() const { return batch_size_; }
  int crop() const { return crop_; }
  // images: float32 [B, 3, crop, crop], labels: int64 [B], both on the split's device;
  // batch_id: an int64 one-element tensor on that device holding the batch index (read there).
  // aug_seed/aug_offset select the Philox stream for augmentation (ignored when off).
  // images may also be float64 (the CPU backend's double precision; values are the float32 ones).
  // The CPU backend throws for a batch id outside [0, num_batches); the CUDA kernel cannot throw
  // and writes NaN images and label -1 instead.
  void gather(const Tensor& batch_id, const Tensor& images, const Tensor& labels, uint64_t aug_seed = 0,
              uint64_t aug_offset = 0) const;
  // The same with the batch index given by the host (evaluation loops, tests).
  void gather(int64_t batch, const Tensor& images, const Tensor& labels, uint64_t aug_seed = 0,
              uint64_t aug_offset = 0) const;
  // Allocates and fills batch `batch` (float32 images, int64 labels on the split's device).
  std::pair<Tensor, Tensor> batch(int64_t batch, uint64_t aug_seed = 0, uint64_t aug_offset = 0) const;
  // images [n, 3, crop, crop] and labels [n] receive the samples sample_ids[0..n) (int64 indices
  // into the split, on its device, read there), augmented as those samples are in a batch gather.
  // The CPU backend throws for an index outside the split; the CUDA kernel writes NaN and -1.
  void gather_samples(const Tensor& sample_ids, const Tensor& images, const Tensor& labels, uint64_t aug_seed = 0,
                      uint64_t aug_offset = 0) const;
  // The split holds one rank's slices of batches of `global_batch` (train/dist_launch.h), this
  // rank's starting at sample `begin` of each: augmentation then draws by the global sample
  // index, so a data-parallel run augments exactly as one process.
  void set_slice_of(int64_t global_batch, int64_t begin);

 private:
  // The gather's pointers and sizes, without the batch id.
  GatherArgs gather_args(uint64_t aug_seed, uint64_t aug_offset) const;
  Split split_;
  int64_t batch_size_;
  int crop_;
  AugmentOptions augment_;
  int64_t global_batch_ = 0, slice_begin_ = 0;  // set_slice_of (0: the split is the whole data)
  Tensor resize_tables_;  // int32, on the split's device: x then y coefficient tables (empty if no resize)
  int x_taps_ = 0, y_taps_ = 0;
  Tensor lut_;  // float32 [3, 256] on the split's device: uint8 -> normalised value per channel
};

}  // namespace dybat
