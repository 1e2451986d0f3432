// BatchNorm2d layer (see norm.h).
#include "layers/norm.h"

#include "layers/activation.h"

namespace dybat {

#if defined(DYBAT_CUDA)
namespace cuda {
void increment_int64(int64_t* counter, int device);  // norm.cu
}
#endif

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
    // the math, but it is part of the state_dict. On CUDA a one-thread kernel bumps it on the
    // stream, so the host never waits.
#if defined(DYBAT_CUDA)
    if (num_batches_tracked.device().is_cuda()) {
      cuda::increment_int64(num_batches_tracked.data<int64_t>(), num_batches_tracked.device().index);
      return out;
    }
#endif
    num_batches_tracked.data<int64_t>()[0] += 1;
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
