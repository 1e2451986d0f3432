// The hard cut within each batch: the method's two steps (see select_topk.h).
#include "train/select_topk.h"

#include <algorithm>

#include "train/select_method.h"

namespace dybat {

namespace {

class TopkSelect : public SelectMethod {
 public:
  explicit TopkSelect(const MethodContext& c) : c_(c) {
    const int64_t B = c.train.batch_size(), T = c.plan.total_steps;
    m_ = static_cast<int64_t>(c.cfg.keep * static_cast<double>(B));
    DYBAT_CHECK(m_ >= 1, "--keep ", c.cfg.keep, " keeps int(", c.cfg.keep, " * ", B,
                ") = 0 samples of a batch; raise --keep or use larger batches");
    first_ = static_cast<int64_t>(c.cfg.keep_start * static_cast<double>(T));
    end_ = static_cast<int64_t>(c.cfg.keep_end * static_cast<double>(T));
    kept_ = Tensor::zeros({m_}, DType::Int64, c.device);
    Shape xs = c.x.shape();
    xs[0] = m_;
    xs_ = Tensor::empty(xs, c.x.dtype(), c.device);
    ys_ = Tensor::empty({m_}, DType::Int64, c.device);
    dmean_ = Tensor::full({m_}, 1.0 / static_cast<double>(m_), c.dtype, c.device);
  }

  bool subset(int64_t step) const { return step >= first_ && step < end_; }

  void run_step(int64_t step, GraphedStep::Mode mode, const std::function<void()>& begin) override {
    const bool sub = subset(step);
    std::unique_ptr<GraphedStep>& runner = sub ? subset_runner_ : full_runner_;
    if (!runner)
      runner = std::make_unique<GraphedStep>(c_.device, mode, sub ? "the subset training step" : "the training step");
    runner->run([&] {
      begin();
      Tensor id = c_.sel.choose_batch();
      c_.train.gather(id, c_.x, c_.y);
      if (!sub) {
        Tensor losses = c_.step.forward(c_.x, c_.y);
        c_.sel.record(losses.detach(), id);
        c_.step.update(losses, c_.lr);
        return;
      }
      Tensor scores = scoring_losses(c_.net, c_.x, c_.y, c_.dtype);
      select_top_k(scores.to(DType::Float32).contiguous(), m_, kept_);
      gather_by_index(c_.x, kept_, xs_);
      gather_by_index(c_.y, kept_, ys_);
      Tensor losses = c_.step.forward(xs_, ys_);
      c_.sel.record(scores, id);
      c_.step.update(losses, c_.lr, dmean_);
    });
  }

  SelectWork work(int64_t steps) const override {
    const int64_t B = c_.train.batch_size();
    const int64_t sub = std::max<int64_t>(0, std::min(steps, end_) - first_);
    return {sub * m_ + (steps - sub) * B, sub * B};
  }

 private:
  MethodContext c_;
  int64_t m_ = 0, first_ = 0, end_ = 0;
  Tensor kept_;     // int64 [m]: the kept samples' indices in the batch, ascending
  Tensor xs_, ys_;  // the kept samples [m, ...], [m]
  Tensor dmean_;    // [m], every element 1 / m
  std::unique_ptr<GraphedStep> full_runner_, subset_runner_;
};

}  // namespace

std::unique_ptr<SelectMethod> make_topk_select(const MethodContext& ctx) { return std::make_unique<TopkSelect>(ctx); }

}  // namespace dybat
