// BatchNorm2d with PyTorch's names and buffers, optionally fused with an activation and a residual
// add (timm's BatchNormAct2d; a ResNet block's relu(bn(conv(y)) + shortcut)).
#pragma once

#include "kernels/batchnorm.h"
#include "layers/layer.h"

namespace dybat {

class BatchNorm2d : public Layer {
 public:
  // eps 1e-5 and momentum 0.1 are what all five nets use. `act` runs after the (optional)
  // residual add: out = act(BN(x) + residual).
  explicit BatchNorm2d(int64_t channels, Act act = Act::None, double eps = 1e-5, double momentum = 0.1);

  // Normalises by mode(): Train uses batch statistics, updates the running ones and counts the
  // batch in num_batches_tracked; EvalBatchStats uses batch statistics and updates nothing;
  // Eval uses the running statistics.
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const Tensor& residual);
  Shape trace(const Shape& in, ShapeTrace& t) const override;

  int64_t channels() const { return channels_; }
  Act act() const { return act_; }
  // Batch statistics over every process of `sync` (kernels/batchnorm_sync.h) whenever batch
  // statistics are used (Train and EvalBatchStats); null (the default): this process's batch.
  // The collective must outlive the layer's use.
  void set_sync(const Collective* sync) { sync_ = sync; }
  const Collective* sync() const { return sync_; }

  Tensor weight, bias;               // gamma, beta [C]
  Tensor running_mean, running_var;  // [C]
  Tensor num_batches_tracked;        // int64 scalar []

 private:
  int64_t channels_;
  Act act_;
  double eps_, momentum_;
  const Collective* sync_ = nullptr;
};

}  // namespace dybat
