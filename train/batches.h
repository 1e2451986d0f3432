// Where the loops get their batches: a fixed-order, drop-last split into b batches of B samples,
// gathered by a batch id that lives in device memory (so the host never needs to know it).
//
// BatchSource is the interface the loops use; LoaderBatches adapts the image datasets
// (data/dataset.h), TensorBatches serves in-memory tensors (tests, small synthetic problems).
#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "data/dataset.h"

namespace dybat {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t num_batches() const = 0;  // floor(N / B)
  virtual int64_t batch_size() const = 0;
  virtual int64_t num_samples() const = 0;
  virtual Shape input_shape() const = 0;  // one batch's inputs, [B, ...]
  virtual DType input_dtype() const = 0;
  virtual Device device() const = 0;
  // inputs (input_shape(), input_dtype()) and labels (int64 [B]) receive batch batch_id[0]
  // (a one-element int64 tensor on device(), read there).
  virtual void gather(const Tensor& batch_id, const Tensor& inputs, const Tensor& labels) const = 0;
  // inputs [n, ...] and labels [n] receive the samples sample_ids[0..n) (int64 indices into the
  // whole split, on device(), read there), for the methods that train samples from anywhere in the
  // split. The default throws: a source that cannot gather single samples.
  virtual void gather_samples(const Tensor& sample_ids, const Tensor& inputs, const Tensor& labels) const;
  // Called by the training loop before each step's gather (step counts from 0): sources that
  // augment draw that step's random stream from it, so a resumed run augments identically.
  virtual void set_step(int64_t step) { (void)step; }
  // True when gather's result depends on that host-side step (augmentation): a CUDA graph would
  // freeze it at the captured step, so the trainer runs such a source without graphs.
  virtual bool step_dependent() const { return false; }
};

// Images of a dataset split: float32 [B, 3, crop, crop], normalised (see BatchLoader), with
// optional augmentation whose Philox stream is (seed, step) for the step set by set_step.
class LoaderBatches : public BatchSource {
 public:
  LoaderBatches(const Split& split, int64_t batch_size, int crop, AugmentOptions augment = {}, uint64_t seed = 0);
  int64_t num_batches() const override { return loader_.num_batches(); }
  int64_t batch_size() const override { return loader_.batch_size(); }
  int64_t num_samples() const override { return samples_; }
  Shape input_shape() const override { return {loader_.batch_size(), 3, loader_.crop(), loader_.crop()}; }
  DType input_dtype() const override { return DType::Float32; }
  Device device() const override { return device_; }
  void gather(const Tensor& batch_id, const Tensor& inputs, const Tensor& labels) const override;
  void gather_samples(const Tensor& sample_ids, const Tensor& inputs, const Tensor& labels) const override;
  void set_step(int64_t step) override { step_ = step; }
  bool step_dependent() const override { return augments_; }
  // A data-parallel rank's split (BatchLoader::set_slice_of).
  void set_slice_of(int64_t global_batch, int64_t begin) { loader_.set_slice_of(global_batch, begin); }

 private:
  BatchLoader loader_;
  int64_t samples_;
  Device device_;
  uint64_t seed_;
  bool augments_;
  int64_t step_ = 0;
};

// In-memory inputs [N, ...] (any floating dtype) and int64 labels [N] on one device.
class TensorBatches : public BatchSource {
 public:
  TensorBatches(Tensor inputs, Tensor labels, int64_t batch_size);
  int64_t num_batches() const override { return inputs_.size(0) / batch_size_; }
  int64_t batch_size() const override { return batch_size_; }
  int64_t num_samples() const override { return inputs_.size(0); }
  Shape input_shape() const override;
  DType input_dtype() const override { return inputs_.dtype(); }
  Device device() const override { return inputs_.device(); }
  void gather(const Tensor& batch_id, const Tensor& inputs, const Tensor& labels) const override;
  void gather_samples(const Tensor& sample_ids, const Tensor& inputs, const Tensor& labels) const override;

 private:
  Tensor inputs_, labels_;
  int64_t batch_size_;
};

// 0..n-1 as int64 on `device`: one-element views of it serve as batch ids (one copy to the device,
// made once, not per batch).
Tensor batch_ids(int64_t n, Device device);

// Kernel level: out = rows [id * B, (id + 1) * B) of src along dim 0 (B = out.size(0)), with
// id = batch_id[0] read on the device. src and out contiguous, same dtype and device.
void gather_batch(const Tensor& src, const Tensor& batch_id, const Tensor& out);
// Kernel level: out[j] = src[index[j]] along dim 0 for j < out.size(0) = index.numel() (int64,
// read on the device). src and out contiguous, same dtype and device. The CPU throws for an index
// outside [0, src.size(0)); the CUDA kernel leaves that row as it was.
void gather_by_index(const Tensor& src, const Tensor& index, const Tensor& out);

}  // namespace dybat
