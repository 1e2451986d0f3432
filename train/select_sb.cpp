// Selective-Backprop: dispatch of its kernels with checks, and the method's step (see select_sb.h).
#include "train/select_sb.h"

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/select_method.h"

namespace dybat {

namespace {

void check_state(const Tensor& state, const Tensor& like, const char* op) {
  DYBAT_CHECK(state.dtype() == DType::Int64 && state.numel() == 4 && state.is_contiguous(), op,
              ": state must be contiguous int64 [4], got ", state.str());
  check_same_device(state, like, op);
}

void check_queue(const Tensor& queue, const Tensor& like, const char* op) {
  DYBAT_CHECK(queue.dtype() == DType::Int64 && queue.dim() == 1 && queue.is_contiguous() && queue.numel() >= 2, op,
              ": queue must be a contiguous int64 ring of 2B, got ", queue.str());
  check_same_device(queue, like, op);
}

}  // namespace

void sb_prepare(const Tensor& state, int64_t num_batches, int64_t batch, const Tensor& batch_id,
                const Tensor& pending) {
  const char* op = "sb_prepare";
  check_state(state, batch_id, op);
  DYBAT_CHECK(num_batches >= 1 && batch >= 1, op, ": needs at least one batch of one sample");
  DYBAT_CHECK(batch_id.dtype() == DType::Int64 && batch_id.numel() == 1, op, ": batch id must be one int64");
  DYBAT_CHECK(pending.dtype() == DType::Int32 && pending.numel() == 1, op, ": pending must be one int32");
  check_same_device(state, pending, op);
  DYBAT_DISPATCH_DEVICE(state.device(), sb_prepare, state, num_batches, batch, batch_id, pending);
}

void sb_select(const Tensor& losses, const Tensor& batch_id, const Tensor& history, const Tensor& queue,
               const Tensor& state, const Tensor& keep, uint64_t seed, double beta) {
  const char* op = "sb_select";
  DYBAT_CHECK(losses.dim() == 1 && losses.numel() >= 1, op, ": losses must be [B], got ", losses.str());
  const int64_t B = losses.numel();
  DYBAT_CHECK(batch_id.dtype() == DType::Int64 && batch_id.numel() == 1, op, ": batch id must be one int64");
  DYBAT_CHECK(history.dtype() == DType::Float32 && history.dim() == 1 && history.numel() >= 1 &&
                  history.is_contiguous(),
              op, ": history must be a contiguous float32 ring, got ", history.str());
  check_queue(queue, losses, op);
  DYBAT_CHECK(queue.numel() == 2 * B, op, ": the queue ring must hold 2B = ", 2 * B, " samples, got ",
              queue.numel());
  DYBAT_CHECK(keep.dtype() == DType::UInt8 && keep.numel() == B && keep.is_contiguous(), op,
              ": keep must be contiguous uint8 [", B, "]");
  DYBAT_CHECK(beta >= 0.0 && beta <= 64.0, op, ": beta ", beta, " outside [0, 64]");
  check_state(state, losses, op);
  for (const Tensor* t : {&batch_id, &history, &keep}) check_same_device(losses, *t, op);
  DYBAT_DISPATCH_DEVICE(losses.device(), sb_select, losses.contiguous(), batch_id, history, queue, state, keep, seed,
                        beta);
}

void sb_take(const Tensor& queue, const Tensor& state, const Tensor& ids) {
  const char* op = "sb_take";
  check_queue(queue, ids, op);
  check_state(state, ids, op);
  DYBAT_CHECK(ids.dtype() == DType::Int64 && ids.dim() == 1 && ids.is_contiguous() && 2 * ids.numel() == queue.numel(),
              op, ": ids must be contiguous int64 [B] for a ring of 2B, got ", ids.str());
  DYBAT_DISPATCH_DEVICE(ids.device(), sb_take, queue, state, ids);
}

namespace {

class SelectiveBackprop : public SelectMethod {
 public:
  explicit SelectiveBackprop(const MethodContext& c) : c_(c) {
    const int64_t B = c.train.batch_size();
    history_ = Tensor::zeros({c.cfg.window}, DType::Float32, c.device);
    queue_ = Tensor::zeros({2 * B}, DType::Int64, c.device);
    state_ = Tensor::zeros({4}, DType::Int64, c.device);
    keep_ = Tensor::zeros({B}, DType::UInt8, c.device);
    batch_id_ = Tensor::zeros({1}, DType::Int64, c.device);
    pending_ = Tensor::zeros({1}, DType::Int32, c.device);
    ids_ = Tensor::zeros({B}, DType::Int64, c.device);
  }

  void run_step(int64_t, GraphedStep::Mode mode, const std::function<void()>& begin) override {
    if (!runner_) runner_ = std::make_unique<GraphedStep>(c_.device, mode, "the selective-backprop step");
    const int64_t b = c_.plan.num_batches, B = c_.train.batch_size();
    runner_->run_while(
        pending_,
        [&] {
          begin();
          sb_prepare(state_, b, B, batch_id_, pending_);
        },
        [&] {  // score the next batch while the queue cannot fill a step
          c_.train.gather(batch_id_, c_.x, c_.y);
          Tensor scores = scoring_losses(c_.net, c_.x, c_.y, c_.dtype);
          sb_select(scores, batch_id_, history_, queue_, state_, keep_, c_.cfg.seed, c_.cfg.beta);
          sb_prepare(state_, b, B, batch_id_, pending_);
        },
        [&] {  // train on the queue's first B samples
          sb_take(queue_, state_, ids_);
          c_.train.gather_samples(ids_, c_.x, c_.y);
          Tensor losses = c_.step.forward(c_.x, c_.y);
          c_.sel.record_samples(losses.detach());
          c_.step.update(losses, c_.lr);
        });
  }

  NamedTensors state() const override {
    return {{"history", history_.to(Device::cpu())}, {"queue", queue_.to(Device::cpu())},
            {"state", state_.to(Device::cpu())}};
  }

  void restore(const NamedTensors& st, int64_t) override {
    history_.copy_(method_tensor(st, "history", history_));
    queue_.copy_(method_tensor(st, "queue", queue_));
    state_.copy_(method_tensor(st, "state", state_));
  }

  SelectWork work(int64_t steps) const override {
    const int64_t B = c_.train.batch_size();
    return {steps * B, state_.to_vector<int64_t>()[1] * B};
  }

 private:
  MethodContext c_;
  Tensor history_, queue_, state_, keep_;  // see select_sb.h
  Tensor batch_id_, pending_, ids_;        // the next batch to score, the loop flag, the step's samples
  std::unique_ptr<GraphedStep> runner_;
};

}  // namespace

std::unique_ptr<SelectMethod> make_sb_select(const MethodContext& ctx) {
  return std::make_unique<SelectiveBackprop>(ctx);
}

}  // namespace dybat
