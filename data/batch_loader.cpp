// BatchLoader: validates a split and a batch shape once, keeps the resize tables and the
// normalisation table on the split's device, and dispatches each gather to the CPU or CUDA kernel.
#include "core/dispatch.h"
#include "data/dataset.h"
#include "data/backend.h"
#include "data/gather.h"
#include "data/transform.h"

namespace dybat {

BatchLoader::BatchLoader(const Split& split, int64_t batch_size, int crop, AugmentOptions augment)
    : split_(split), batch_size_(batch_size), crop_(crop), augment_(augment) {
  DYBAT_CHECK(split.images.defined() && split.labels.defined(), "BatchLoader: the split is empty (not loaded)");
  const Tensor& im = split.images;
  DYBAT_CHECK(im.dtype() == DType::UInt8 && im.dim() == 4 && im.size(1) == 3 && im.is_contiguous(),
              "BatchLoader: split images must be contiguous uint8 [N, 3, H, W], got ", im.str());
  DYBAT_CHECK(split.labels.dtype() == DType::Int64 && split.labels.dim() == 1 && split.labels.size(0) == im.size(0) &&
                  split.labels.is_contiguous(),
              "BatchLoader: split labels must be contiguous int64 [", im.size(0), "], got ", split.labels.str());
  DYBAT_CHECK(split.labels.device() == im.device(), "BatchLoader: images on ", im.device().str(), " but labels on ",
              split.labels.device().str());
  DYBAT_CHECK(batch_size > 0, "BatchLoader: batch size must be positive, got ", batch_size);
  DYBAT_CHECK(crop > 0, "BatchLoader: crop must be positive, got ", crop);
  DYBAT_CHECK(batch_size <= split.size(), "BatchLoader: batch size ", batch_size, " is larger than the split (",
              split.size(), " samples); with drop_last no batch would remain");
  const Device dev = im.device();
  const int h = static_cast<int>(im.size(2)), w = static_cast<int>(im.size(3));
  // Tables for the axes whose size changes, packed as [x start, x k, y start, y k].
  std::vector<int32_t> packed;
  if (w != crop) {
    ResizeTable t = resize_table(w, crop);
    x_taps_ = t.taps;
    packed.insert(packed.end(), t.start.begin(), t.start.end());
    packed.insert(packed.end(), t.k.begin(), t.k.end());
  }
  if (h != crop) {
    ResizeTable t = resize_table(h, crop);
    y_taps_ = t.taps;
    packed.insert(packed.end(), t.start.begin(), t.start.end());
    packed.insert(packed.end(), t.k.begin(), t.k.end());
  }
  if (!packed.empty()) resize_tables_ = Tensor::from_vector(packed, {static_cast<int64_t>(packed.size())}).to(dev);
  auto lut = normalize_lut();
  lut_ = Tensor::from_vector(std::vector<float>(lut.begin(), lut.end()), {3, 256}).to(dev);
}

int64_t BatchLoader::num_batches() const { return split_.size() / batch_size_; }

GatherArgs BatchLoader::gather_args(uint64_t aug_seed, uint64_t aug_offset) const {
  GatherArgs a;
  a.images = split_.images.data<uint8_t>();
  a.labels = split_.labels.data<int64_t>();
  a.n = split_.size();
  a.h = static_cast<int>(split_.images.size(2));
  a.w = static_cast<int>(split_.images.size(3));
  a.crop = crop_;
  a.batch = batch_size_;
  a.num_batches = num_batches();
  const int32_t* tables = resize_tables_.defined() ? resize_tables_.data<int32_t>() : nullptr;
  if (x_taps_ > 0) {
    a.x_start = tables;
    a.x_k = tables + crop_;
    a.x_taps = x_taps_;
    tables += crop_ + static_cast<int64_t>(crop_) * x_taps_;
  }
  if (y_taps_ > 0) {
    a.y_start = tables;
    a.y_k = tables + crop_;
    a.y_taps = y_taps_;
  }
  a.lut = lut_.data<float>();
  a.aug_crop = augment_.random_crop;
  a.aug_flip = augment_.flip;
  a.seed = aug_seed;
  a.offset = aug_offset;
  a.aug_batch = global_batch_;
  a.aug_base = slice_begin_;
  return a;
}

void BatchLoader::gather(const Tensor& batch_id, const Tensor& images, const Tensor& labels, uint64_t aug_seed,
                         uint64_t aug_offset) const {
  const Device dev = split_.images.device();
  const int64_t B = batch_size_;
  DYBAT_CHECK(
      batch_id.defined() && batch_id.dtype() == DType::Int64 && batch_id.numel() == 1 && batch_id.device() == dev,
      "BatchLoader::gather: batch_id must be a one-element int64 tensor on ", dev.str(), ", got ",
      batch_id.defined() ? batch_id.str() : std::string("an undefined tensor"));
  DYBAT_CHECK(images.defined() && (images.dtype() == DType::Float32 || images.dtype() == DType::Float64) &&
                  images.shape() == Shape({B, 3, crop_, crop_}) && images.is_contiguous() && images.device() == dev,
              "BatchLoader::gather: images must be contiguous float32/float64 [", B, ", 3, ", crop_, ", ", crop_,
              "] on ", dev.str(), ", got ", images.defined() ? images.str() : std::string("an undefined tensor"));
  DYBAT_CHECK(labels.defined() && labels.dtype() == DType::Int64 && labels.shape() == Shape({B}) &&
                  labels.is_contiguous() && labels.device() == dev,
              "BatchLoader::gather: labels must be contiguous int64 [", B, "] on ", dev.str(), ", got ",
              labels.defined() ? labels.str() : std::string("an undefined tensor"));

  GatherArgs a = gather_args(aug_seed, aug_offset);
  a.batch_id = batch_id.data<int64_t>();
  DYBAT_DISPATCH_DEVICE(dev, gather, a, images, labels);
}

void BatchLoader::gather_samples(const Tensor& sample_ids, const Tensor& images, const Tensor& labels,
                                 uint64_t aug_seed, uint64_t aug_offset) const {
  const Device dev = split_.images.device();
  DYBAT_CHECK(sample_ids.defined() && sample_ids.dtype() == DType::Int64 && sample_ids.dim() == 1 &&
                  sample_ids.is_contiguous() && sample_ids.device() == dev,
              "BatchLoader::gather_samples: sample_ids must be a contiguous int64 vector on ", dev.str(), ", got ",
              sample_ids.defined() ? sample_ids.str() : std::string("an undefined tensor"));
  const int64_t n = sample_ids.numel();
  DYBAT_CHECK(n >= 1 && images.defined() && (images.dtype() == DType::Float32 || images.dtype() == DType::Float64) &&
                  images.shape() == Shape({n, 3, crop_, crop_}) && images.is_contiguous() && images.device() == dev,
              "BatchLoader::gather_samples: images must be contiguous float32/float64 [", n, ", 3, ", crop_, ", ",
              crop_, "] on ", dev.str(), ", got ", images.defined() ? images.str() : std::string("an undefined tensor"));
  DYBAT_CHECK(labels.defined() && labels.dtype() == DType::Int64 && labels.shape() == Shape({n}) &&
                  labels.is_contiguous() && labels.device() == dev,
              "BatchLoader::gather_samples: labels must be contiguous int64 [", n, "] on ", dev.str());
  GatherArgs a = gather_args(aug_seed, aug_offset);
  a.batch = n;
  a.sample_ids = sample_ids.data<int64_t>();
  DYBAT_DISPATCH_DEVICE(dev, gather, a, images, labels);
}

void BatchLoader::set_slice_of(int64_t global_batch, int64_t begin) {
  DYBAT_CHECK(global_batch >= batch_size_ && begin >= 0 && begin + batch_size_ <= global_batch,
              "BatchLoader: a slice of ", batch_size_, " samples from ", begin, " does not fit a batch of ",
              global_batch);
  global_batch_ = global_batch;
  slice_begin_ = begin;
}

void BatchLoader::gather(int64_t batch, const Tensor& images, const Tensor& labels, uint64_t aug_seed,
                         uint64_t aug_offset) const {
  DYBAT_CHECK(batch >= 0 && batch < num_batches(), "BatchLoader::gather: batch ", batch, " is out of range [0, ",
              num_batches(), ")");
  Tensor id = Tensor::full({1}, static_cast<double>(batch), DType::Int64, split_.images.device());
  gather(id, images, labels, aug_seed, aug_offset);
}

std::pair<Tensor, Tensor> BatchLoader::batch(int64_t batch, uint64_t aug_seed, uint64_t aug_offset) const {
  const Device dev = split_.images.device();
  Tensor images = Tensor::empty({batch_size_, 3, crop_, crop_}, DType::Float32, dev);
  Tensor labels = Tensor::empty({batch_size_}, DType::Int64, dev);
  gather(batch, images, labels, aug_seed, aug_offset);
  return {images, labels};
}

}  // namespace dybat
