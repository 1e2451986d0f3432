// InfoBatch: dispatch of its kernels with checks, the epoch plan and the method's step (see
// select_infobatch.h).
#include "train/select_infobatch.h"

#include <algorithm>
#include <array>
#include <vector>

#include "core/copy.h"
#include "core/dispatch.h"
#include "train/backend.h"
#include "train/select_method.h"

namespace dybat {

double infobatch_keep_ratio(double prune_ratio) { return std::min(1.0, std::max(0.1, 1.0 - prune_ratio)); }

void infobatch_mark(const Tensor& score, const Tensor& low, const Tensor& n_low) {
  const char* op = "infobatch_mark";
  DYBAT_CHECK(score.dtype() == DType::Float32 && score.dim() == 1 && score.numel() >= 1 && score.is_contiguous(), op,
              ": score must be contiguous float32 [N]");
  DYBAT_CHECK(low.dtype() == DType::UInt8 && low.numel() == score.numel() && low.is_contiguous(), op,
              ": low must be contiguous uint8 [", score.numel(), "]");
  DYBAT_CHECK(n_low.dtype() == DType::Int64 && n_low.numel() == 1, op, ": n_low must be one int64");
  check_same_device(score, low, op);
  check_same_device(score, n_low, op);
  DYBAT_DISPATCH_DEVICE(score.device(), infobatch_mark, score, low, n_low);
}

void infobatch_plan(const Tensor& low, uint64_t seed, int64_t epoch, float low_weight, const Tensor& keys,
                    const Tensor& weight) {
  const char* op = "infobatch_plan";
  const int64_t n = low.numel();
  DYBAT_CHECK(low.dtype() == DType::UInt8 && low.is_contiguous(), op, ": low must be contiguous uint8");
  for (const Tensor* t : {&keys, &weight}) {
    DYBAT_CHECK(t->dtype() == DType::Float32 && t->numel() == n && t->is_contiguous(), op,
                ": keys and weight must be contiguous float32 [", n, "]");
    check_same_device(low, *t, op);
  }
  DYBAT_CHECK(epoch >= 0, op, ": negative epoch");
  DYBAT_DISPATCH_DEVICE(low.device(), infobatch_plan, low, seed, epoch, low_weight, keys, weight);
}

void infobatch_batch(const Tensor& kept, const Tensor& cursor, const Tensor& ids) {
  const char* op = "infobatch_batch";
  DYBAT_CHECK(kept.dtype() == DType::Int64 && kept.dim() == 1 && kept.is_contiguous(), op,
              ": kept must be contiguous int64 [N]");
  DYBAT_CHECK(cursor.dtype() == DType::Int64 && cursor.numel() == 1, op, ": cursor must be one int64");
  DYBAT_CHECK(ids.dtype() == DType::Int64 && ids.dim() == 1 && ids.numel() >= 1 && ids.numel() <= kept.numel() &&
                  ids.is_contiguous(),
              op, ": ids must be contiguous int64 [B], B <= ", kept.numel());
  check_same_device(kept, cursor, op);
  check_same_device(kept, ids, op);
  DYBAT_DISPATCH_DEVICE(ids.device(), infobatch_batch, kept, cursor, ids);
}

void infobatch_record(const Tensor& losses, const Tensor& ids, const Tensor& weight, double inv_batch,
                      const Tensor& score, const Tensor& dloss) {
  const char* op = "infobatch_record";
  const int64_t B = losses.numel();
  DYBAT_CHECK(losses.dim() == 1 && B >= 1, op, ": losses must be [B], got ", losses.str());
  DYBAT_CHECK(ids.dtype() == DType::Int64 && ids.numel() == B && ids.is_contiguous(), op, ": ids must be int64 [", B,
              "]");
  DYBAT_CHECK(weight.dtype() == DType::Float32 && score.dtype() == DType::Float32 &&
                  weight.numel() == score.numel() && weight.is_contiguous() && score.is_contiguous(),
              op, ": weight and score must be contiguous float32 [N]");
  DYBAT_CHECK(dloss.dtype() == losses.dtype() && dloss.numel() == B && dloss.is_contiguous(), op,
              ": dloss must be contiguous [", B, "] of the losses' dtype");
  for (const Tensor* t : {&ids, &weight, &score, &dloss}) check_same_device(losses, *t, op);
  DYBAT_DISPATCH_DEVICE(losses.device(), infobatch_record, losses.contiguous(), ids, weight, inv_batch, score, dloss);
}

namespace {

class InfoBatch : public SelectMethod {
 public:
  explicit InfoBatch(const MethodContext& c)
      : c_(c), n_(c.train.num_samples()), keep_ratio_(infobatch_keep_ratio(c.cfg.prune_ratio)) {
    const int64_t B = c.train.batch_size();
    score_ = Tensor::full({n_}, 3.0, DType::Float32, c.device);
    kept_ = batch_ids(n_, c.device);
    all_ = batch_ids(n_, c.device);
    weight_ = Tensor::ones({n_}, DType::Float32, c.device);
    low_ = Tensor::zeros({n_}, DType::UInt8, c.device);
    keys_ = Tensor::zeros({n_}, DType::Float32, c.device);
    n_low_ = Tensor::zeros({1}, DType::Int64, c.device);
    cursor_ = Tensor::zeros({1}, DType::Int64, c.device);
    ids_ = Tensor::zeros({B}, DType::Int64, c.device);
    dloss_ = Tensor::zeros({B}, c.dtype, c.device);
    prune_until_ = static_cast<int64_t>((1.0 - c.cfg.anneal) * static_cast<double>(c.plan.total_steps));
  }

  // The next epoch's plan, when `step` begins one (host; outside the captured step).
  void plan_epoch(int64_t step) {
    if (step != next_epoch_) return;
    const int64_t B = c_.train.batch_size();
    int64_t kept = n_;
    if (step < prune_until_) {
      infobatch_mark(score_, low_, n_low_);
      const auto n_low = static_cast<int64_t>(n_low_.item());  // the epoch's one host read
      kept = n_ - n_low + static_cast<int64_t>(keep_ratio_ * static_cast<double>(n_low));
      infobatch_plan(low_, c_.cfg.seed, epoch_, static_cast<float>(1.0 / keep_ratio_), keys_, weight_);
      select_top_k(keys_, kept, kept_);
    }
    if (step >= prune_until_ || kept < B) {  // annealing, or too few samples left for one batch
      kept = n_;
      kept_.copy_(all_);
      weight_.fill_(1.0);
    }
    plan_ = {epoch_ + 1, step, kept / B, kept};
    epoch_ += 1;
    next_epoch_ = step + kept / B;
    cursor_.zero_();
  }

  void run_step(int64_t step, GraphedStep::Mode mode, const std::function<void()>& begin) override {
    plan_epoch(step);
    if (!runner_) runner_ = std::make_unique<GraphedStep>(c_.device, mode, "the infobatch step");
    const double inv_batch = 1.0 / static_cast<double>(c_.train.batch_size());
    runner_->run([&] {
      begin();
      infobatch_batch(kept_, cursor_, ids_);
      c_.train.gather_samples(ids_, c_.x, c_.y);
      Tensor losses = c_.step.forward(c_.x, c_.y);
      infobatch_record(losses.detach(), ids_, weight_, inv_batch, score_, dloss_);
      c_.sel.record_samples(losses.detach());
      c_.step.update(losses, c_.lr, dloss_);
      advance_counter(cursor_);
    });
  }

  NamedTensors state() const override {
    return {{"score", score_.to(Device::cpu())},
            {"kept", kept_.to(Device::cpu())},
            {"weight", weight_.to(Device::cpu())},
            {"plan", Tensor::from_vector(std::vector<int64_t>(plan_.begin(), plan_.end()), {4})}};
  }

  void restore(const NamedTensors& st, int64_t next_step) override {
    score_.copy_(method_tensor(st, "score", score_));
    kept_.copy_(method_tensor(st, "kept", kept_));
    weight_.copy_(method_tensor(st, "weight", weight_));
    std::vector<int64_t> p = method_tensor(st, "plan", Tensor::zeros({4}, DType::Int64)).to_vector<int64_t>();
    DYBAT_CHECK(p[1] <= next_step && next_step <= p[1] + p[2], "checkpoint: the infobatch epoch of steps ", p[1],
                " to ", p[1] + p[2], " does not hold step ", next_step);
    std::copy(p.begin(), p.end(), plan_.begin());
    epoch_ = p[0];
    next_epoch_ = p[1] + p[2];
    cursor_.fill_(static_cast<double>(next_step - p[1]));
  }

  SelectWork work(int64_t steps) const override { return {steps * c_.train.batch_size(), 0}; }

 private:
  MethodContext c_;
  int64_t n_;
  double keep_ratio_;
  int64_t prune_until_ = 0;  // epochs that begin at this step or later train on all samples
  int64_t epoch_ = 0, next_epoch_ = 0;
  std::array<int64_t, 4> plan_ = {0, 0, 0, 0};  // the current epoch: {epoch (from 1), first step, steps, kept}
  Tensor score_, kept_, all_, weight_, low_, keys_, n_low_;  // [N] (n_low_ [1])
  Tensor cursor_, ids_, dloss_;                              // the step within the epoch, its samples, d/dloss
  std::unique_ptr<GraphedStep> runner_;
};

}  // namespace

std::unique_ptr<SelectMethod> make_infobatch_select(const MethodContext& ctx) {
  return std::make_unique<InfoBatch>(ctx);
}

}  // namespace dybat
