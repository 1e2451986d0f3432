// BatchNorm2d layer (see norm.h).
#include "layers/norm.h"

#include "core/copy.h"
#include "layers/activation.h"

namespace dybat {

BatchNorm2d::BatchNorm2d(int64_t channels, Act act, double eps, double momentum)
    : Layer(act == Act::None ? std::string("BatchNorm2d") : std::string("BatchNorm2d+") + act_module_name(act)),
      channels_(channels),
      act_(act),
      eps_(eps),
      momentum_(momentum) {
  DYBAT_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got ", channels);
  weight = register_parameter("weight", Tensor::ones({channels}));
  bias = register_parameter("bias", Tensor::zeros({channels}));
  running_mean = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var = register_buffer("running_var", Tensor::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::scalar(0, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) { return forward(x, Tensor()); }

Tensor BatchNorm2d::forward(const Tensor& x, const Tensor& residual) {
  DYBAT_CHECK(x.dim() >= 2 && x.size(1) == channels_, "BatchNorm2d(", channels_, "): expected [N, ", channels_,
              ", ...] input, got ", shape_str(x.shape()));
  BatchNormOptions opt;
  opt.use_batch_stats = mode() != Mode::Eval;
  opt.update_running = mode() == Mode::Train;
  opt.momentum = momentum_;
  opt.eps = eps_;
  opt.act = act_;
  opt.sync = sync_;
  Tensor out = batch_norm(x, weight, bias, running_mean, running_var, opt, residual);
  if (mode() == Mode::Train) {
    // PyTorch counts every training-mode batch; with a fixed momentum the count has no effect on
    // the math, but it is part of the state_dict. The count is advanced on the device (a
    // one-thread kernel on CUDA), so the host never waits.
    advance_counter(num_batches_tracked);
  }
  return out;
}

Shape BatchNorm2d::trace(const Shape& in, ShapeTrace& t) const {
  DYBAT_CHECK(in.size() >= 2 && in[1] == channels_, "BatchNorm2d(", channels_, "): expected [N, ", channels_,
              ", ...] input, got ", shape_str(in));
  t.leaf(*this, in, 0);
  return in;
}

}  // namespace dybat
