// One training step (see step.h).
#include "train/step.h"

#include "core/autograd.h"
#include "kernels/loss.h"
#include "train/grad_sync.h"

namespace dybat {

TrainStep::TrainStep(Module& net, const SgdOptions& options, int64_t batch, DType dtype, Device device)
    : net_(net), sgd_(net, options), batch_(batch), dtype_(dtype) {
  DYBAT_CHECK(batch >= 1, "a training step needs at least one sample, got a batch of ", batch);
  dmean_ = Tensor::full({batch}, 1.0 / static_cast<double>(batch), dtype, device);
}

Tensor TrainStep::forward(const Tensor& x, const Tensor& y) {
  DYBAT_CHECK(x.dim() >= 1 && x.size(0) >= 1 && x.size(0) <= batch_ && y.numel() == x.size(0),
              "training step: expected a batch of ", batch_, " (or a subset of it) inputs and labels, got ",
              shape_str(x.shape()), " and ", shape_str(y.shape()));
  Tensor logits = net_(x.dtype() == dtype_ ? x : x.to(dtype_));
  return cross_entropy(logits, y);
}

void TrainStep::update(const Tensor& losses, const Tensor& lr) { update(losses, lr, dmean_); }

void TrainStep::update(const Tensor& losses, const Tensor& lr, const Tensor& dloss) {
  DYBAT_CHECK(dloss.shape() == losses.shape() && dloss.dtype() == losses.dtype(), "training step: dloss ",
              dloss.str(), " must match the losses ", losses.str());
  sgd_.zero_grad();
  if (sync_)
    sync_->backward([&] { losses.backward(dloss); });
  else
    losses.backward(dloss);
  sgd_.step(lr);
}

void TrainStep::set_gradient_sync(GradientSync* sync, int64_t global_batch) {
  const int64_t b = sync ? global_batch : batch_;
  DYBAT_CHECK(b >= batch_, "training step: a global batch of ", b, " is smaller than this rank's ", batch_);
  sync_ = sync;
  dmean_.fill_(1.0 / static_cast<double>(b));
}

Tensor TrainStep::run(const Tensor& x, const Tensor& y, const Tensor& lr) {
  Tensor losses = forward(x, y);
  update(losses, lr);
  return losses.detach();
}

}  // namespace dybat
