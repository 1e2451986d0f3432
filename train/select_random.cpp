// The random control: dispatch of its key kernel and the method's step (see select_random.h).
#include "train/select_random.h"

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/select_method.h"

namespace dybat {

void random_pass_keys(const Tensor& step_counter, int64_t k, uint64_t seed, const Tensor& keys) {
  DYBAT_CHECK(step_counter.dtype() == DType::Int64 && step_counter.numel() == 1,
              "random_pass_keys: the step counter must be one int64");
  DYBAT_CHECK(keys.dtype() == DType::Float32 && keys.dim() == 1 && keys.is_contiguous(),
              "random_pass_keys: keys must be contiguous float32 [b]");
  DYBAT_CHECK(k >= 1 && k <= keys.numel(), "random_pass_keys: k = ", k, " outside [1, ", keys.numel(), "]");
  check_same_device(step_counter, keys, "random_pass_keys");
  DYBAT_DISPATCH_DEVICE(keys.device(), random_pass_keys, step_counter, k, seed, keys);
}

namespace {

class RandomSelect : public SelectMethod {
 public:
  explicit RandomSelect(const MethodContext& c)
      : c_(c), keys_(Tensor::zeros({c.plan.num_batches}, DType::Float32, c.device)) {}

  void run_step(int64_t, GraphedStep::Mode mode, const std::function<void()>& begin) override {
    if (!runner_) runner_ = std::make_unique<GraphedStep>(c_.device, mode, "the training step");
    runner_->run([&] {
      begin();
      random_pass_keys(c_.sel.step_counter(), c_.plan.k, c_.cfg.seed, keys_);
      Tensor id = c_.sel.choose_batch_by(keys_);
      c_.train.gather(id, c_.x, c_.y);
      Tensor losses = c_.step.forward(c_.x, c_.y);
      c_.sel.record(losses.detach(), id);
      c_.step.update(losses, c_.lr);
    });
  }

  SelectWork work(int64_t steps) const override { return {steps * c_.train.batch_size(), 0}; }

 private:
  MethodContext c_;
  Tensor keys_;  // float32 [b]: the current pass's random keys
  std::unique_ptr<GraphedStep> runner_;
};

}  // namespace

std::unique_ptr<SelectMethod> make_random_select(const MethodContext& ctx) {
  return std::make_unique<RandomSelect>(ctx);
}

}  // namespace dybat
