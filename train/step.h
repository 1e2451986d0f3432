// One training step's device work, the one definition that `train`, `tools/bench` and train's
// time probe all run: forward, per-sample cross-entropy, backward of the batch mean, SGD update.
//
//   losses = cross_entropy(net(x), y)             [B], float of the net's dtype
//   d loss_mean / d losses[i] = 1 / B             (dmean, a constant tensor made once)
//   zero the gradients in place, backward, SGD with the rate read from device memory
//
// The step is split in two halves so the training loop can record the losses (DyBAT's score of
// the batch) between them, before backward frees the graph: forward() then update(). run() is
// both. Everything the halves read from the host is the same on every call (buffers keep their
// addresses, the rate is a device tensor), so the work is capture-safe after its first call and
// a CUDA graph of it replays as any step (train/graphed_step.h).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "layers/module.h"
#include "train/optimizer.h"

namespace dybat {

class GradientSync;

class TrainStep {
 public:
  // batch: B, the samples per step; dtype: the net's parameter dtype (inputs of another dtype
  // are cast to it).
  TrainStep(Module& net, const SgdOptions& options, int64_t batch, DType dtype, Device device);

  // x [B, ...] (inputs), y [B] int64 labels -> per-sample losses [B], still attached to the graph.
  // A subset step passes n <= B samples (x [n, ...], y [n]) and gets [n] losses.
  Tensor forward(const Tensor& x, const Tensor& y);
  // Zeroes the gradients, backpropagates the mean of `losses` (from forward, [B]) and updates the
  // parameters with the rate in `lr` (one float64 element on the device).
  void update(const Tensor& losses, const Tensor& lr);
  // The same with the per-sample weights of the backward given: dloss [n] = d objective / d
  // losses[i], of the losses' dtype, in place of the constant 1 / B (a subset's own mean: 1 / n;
  // InfoBatch's rescaled mean: w_i / B).
  void update(const Tensor& losses, const Tensor& lr, const Tensor& dloss);
  // forward then update; returns the per-sample losses, detached.
  Tensor run(const Tensor& x, const Tensor& y, const Tensor& lr);

  Sgd& optimizer() { return sgd_; }
  int64_t batch_size() const { return batch_; }
  // Data-parallel runs: this step's B samples are a slice of a batch of `global_batch`; the
  // backward weights each loss by 1 / global_batch and runs through `sync`, which sums the
  // gradients over the ranks (train/grad_sync.h), so the update is the one-process update of the
  // whole batch. Null restores the plain step.
  void set_gradient_sync(GradientSync* sync, int64_t global_batch);

 private:
  Module& net_;
  Sgd sgd_;
  int64_t batch_;
  DType dtype_;
  Tensor dmean_;  // [B], every element 1 / B (1 / global batch with a gradient sync)
  GradientSync* sync_ = nullptr;
};

}  // namespace dybat
