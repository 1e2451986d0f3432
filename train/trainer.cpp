// The training loop, evaluation and checkpointing (see trainer.h).
#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/settings.h"
#include "kernels/loss.h"
#include "train/checkpoint.h"

namespace dybat {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Restores a module's mode when the scope ends (also on an exception).
struct ModeGuard {
  Module& m;
  Mode prev;
  ModeGuard(Module& module, Mode mode) : m(module), prev(module.mode()) { m.set_mode(mode); }
  ~ModeGuard() { m.set_mode(prev); }
};

std::string backend_text() {
  const BackendSettings& b = backend_settings();
  return std::string("tf32_conv=") + (b.tf32_conv ? "1" : "0") + " tf32_matmul=" + (b.tf32_matmul ? "1" : "0") +
         " deterministic=" + (b.deterministic ? "1" : "0");
}

}  // namespace

SplitMetrics evaluate(Module& net, const BatchSource& src, Mode mode, DType dtype) {
  ModeGuard guard(net, mode);
  NoGradGuard no_grad;
  int64_t nb = src.num_batches();
  DYBAT_CHECK(nb >= 1, "evaluation: the split has ", src.num_samples(), " samples, fewer than one batch of ",
              src.batch_size());
  Tensor ids = batch_ids(nb, src.device());
  Tensor x = Tensor::empty(src.input_shape(), src.input_dtype(), src.device());
  Tensor y = Tensor::empty({src.batch_size()}, DType::Int64, src.device());
  std::unique_ptr<MetricsAccumulator> acc;
  for (int64_t i = 0; i < nb; ++i) {
    src.gather(ids.slice(i, i + 1), x, y);
    Tensor logits = net(x.dtype() == dtype ? x : x.to(dtype));
    Tensor losses = cross_entropy(logits, y);
    if (!acc) acc = std::make_unique<MetricsAccumulator>(src.device(), logits.size(1));
    acc->add(logits, y, losses);
  }
  return acc->result();
}

struct Trainer::Impl {
  TrainConfig cfg;
  Module& net;
  BatchSource& train;
  BatchSource& test;
  Device device;
  DType dtype;
  RunLog* log;
  SchedulePlan plan;
  int64_t eval_every;
  SelectionState sel;
  Sgd sgd;
  LrSchedule lr;
  Mode eval_mode;
  Tensor x, y, dmean;
  int64_t step = 0;
  double elapsed_offset = 0;  // seconds spent before this process (from the checkpoint)
  int64_t checkpoint_step = 0;
  double last_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t last_loss_step = 0;

  Impl(const TrainConfig& c, Module& n, BatchSource& tr, BatchSource& te, Device d, DType t, RunLog* l)
      : cfg(c),
        net(n),
        train(tr),
        test(te),
        device(d),
        dtype(t),
        log(l),
        plan(make_plan(c, tr, te)),
        eval_every(c.eval_every > 0 ? c.eval_every : plan.num_batches),
        sel(plan, d, eval_every),
        sgd(n, SgdOptions{c.lr, c.momentum, c.weight_decay, c.nesterov}),
        eval_mode(c.eval_bn == "running" ? Mode::Eval : Mode::EvalBatchStats) {
    lr.kind = c.lr_schedule;
    lr.base = c.lr;
    lr.total_steps = plan.total_steps;
    lr.steps_per_epoch = plan.num_batches;
    lr.step_epochs = c.lr_step_epochs;
    lr.gamma = c.lr_gamma;
    x = Tensor::empty(train.input_shape(), train.input_dtype(), device);
    y = Tensor::empty({train.batch_size()}, DType::Int64, device);
    // The gradient of the batch mean with respect to each per-sample loss.
    dmean = Tensor::full({train.batch_size()}, 1.0 / static_cast<double>(train.batch_size()), dtype, device);
  }

  static SchedulePlan make_plan(const TrainConfig& c, const BatchSource& tr, const BatchSource& te) {
    DYBAT_CHECK(tr.num_batches() >= 1, "--batch-size ", tr.batch_size(), " is larger than the training split (",
                tr.num_samples(), " samples)");
    DYBAT_CHECK(te.num_batches() >= 1, "--batch-size ", te.batch_size(), " is larger than the test split (",
                te.num_samples(), " samples)");
    return make_schedule(tr.num_batches(), c.delta, c.epochs, c.zeta);
  }

  void train_step() {
    Tensor id = sel.begin_step(step);
    train.gather(id, x, y);
    Tensor logits = net(x.dtype() == dtype ? x : x.to(dtype));
    Tensor losses = cross_entropy(logits, y);
    sel.record(losses.detach(), id, step);
    sgd.zero_grad();
    losses.backward(dmean);
    sgd.step(lr.at(step));
    ++step;
  }

  void save(double elapsed) {
    if (!log) return;
    CheckpointState st;
    st.step = step;
    StepPlace at = step_place(plan, step);
    st.pass = at.pass;
    st.position = at.position;
    st.score = sel.score();
    st.order = sel.order();
    st.momentum = sgd.buffers();
    st.seed = cfg.seed;
    st.elapsed_s = elapsed;
    st.backend = backend_text();
    try {
      save_checkpoint(log->dir(), net, st);
    } catch (const Error& e) {
      DYBAT_FAIL("training stopped: the checkpoint of step ", step, " could not be written (", e.message(), "); ",
                 checkpoint_step > 0 ? "the last good checkpoint (step " + std::to_string(checkpoint_step) +
                                           ") is kept in " + log->dir()
                                     : "no checkpoint was written before",
                 "; continue with --resume ", log->dir(), " once the disk is fixed");
    }
    checkpoint_step = step;
  }

  TrainResult run(const TrainHooks& hooks) {
    TrainResult result;
    auto t_start = Clock::now(), seg_start = t_start, last_flush = t_start, last_progress = t_start;
    double interval_train = 0;  // training seconds since the last evaluation
    int64_t interval_steps = 0, start_step = step;
    auto progress = [&](bool force) {
      if (!hooks.progress || (!force && seconds_since(last_progress) < hooks.progress_seconds)) return;
      last_progress = Clock::now();
      Progress p;
      p.step = step;
      p.total_steps = plan.total_steps;
      p.pass = step > 0 ? step_place(plan, step - 1).pass : 0;
      p.epoch = static_cast<double>(step) / static_cast<double>(plan.num_batches);
      p.loss = last_loss;
      p.loss_step = last_loss_step;
      double run_s = seconds_since(t_start);
      int64_t done = step - start_step;
      p.img_per_s = run_s > 0 ? static_cast<double>(done * train.batch_size()) / run_s : 0;
      p.eta_s = done > 0 ? run_s / static_cast<double>(done) * static_cast<double>(plan.total_steps - step) : 0;
      p.elapsed_s = elapsed_offset + run_s;
      hooks.progress(p);
    };

    while (step < plan.total_steps) {
      train_step();
      ++interval_steps;
      if (hooks.after_step) hooks.after_step(step);
      bool eval_now = step % eval_every == 0 || step == plan.total_steps;
      bool flush_now = eval_now || sel.pending() == eval_every ||
                       (cfg.flush_seconds > 0 && seconds_since(last_flush) >= cfg.flush_seconds);
      if (flush_now) {
        SelectionState::Flush f = sel.flush();  // the host's only reads of the training steps
        interval_train += seconds_since(seg_start);
        seg_start = last_flush = Clock::now();
        if (f.bad_step > 0) {
          result.status = TrainStatus::NonFinite;
          result.bad_step = f.bad_step;
          result.steps = step;
          result.checkpoint_step = checkpoint_step;
          result.message = "the loss is not finite at step " + std::to_string(f.bad_step) +
                           "; training stopped" +
                           (log ? "; the last good checkpoint (step " + std::to_string(checkpoint_step) +
                                      ") is kept in " + log->dir()
                                : std::string());
          return result;
        }
        if (log) log->append_trace(f.rows);
        if (!f.rows.empty()) {
          last_loss = f.rows.back().loss;
          last_loss_step = f.rows.back().step;
        }
      }
      if (eval_now) {
        MetricsRow row;
        row.step = step;
        row.epoch = static_cast<double>(step) / static_cast<double>(plan.num_batches);
        row.train = evaluate(net, train, eval_mode, dtype);
        row.test = evaluate(net, test, eval_mode, dtype);
        row.img_per_s = interval_train > 0 ? static_cast<double>(interval_steps * train.batch_size()) / interval_train
                                           : 0;
        row.elapsed_s = elapsed_offset + seconds_since(t_start);
        if (log) log->append_metrics(row);
        save(row.elapsed_s);
        result.last = row;
        if (hooks.evaluated) hooks.evaluated(row);
        interval_train = 0;
        interval_steps = 0;
        seg_start = Clock::now();
        progress(true);
      } else {
        progress(false);
      }
      if (hooks.stop_after && hooks.stop_after(step)) {
        result.status = TrainStatus::Stopped;
        break;
      }
    }
    result.steps = step;
    result.checkpoint_step = checkpoint_step;
    return result;
  }

  void resume() {
    DYBAT_CHECK(log, "resume needs a run folder");
    if (has_checkpoint(log->dir())) {
      CheckpointState st = load_checkpoint(log->dir(), net);
      DYBAT_CHECK(st.score.numel() == plan.num_batches, "the checkpoint in '", log->dir(), "' has ", st.score.numel(),
                  " batch scores but this run has ", plan.num_batches, " batches per epoch; the data differ");
      DYBAT_CHECK(st.step <= plan.total_steps, "the checkpoint is at step ", st.step, ", past this run's ",
                  plan.total_steps, " steps");
      sgd.load_buffers(st.momentum);
      sel.restore(st.score, st.order, st.step);
      step = st.step;
      elapsed_offset = st.elapsed_s;
    } else {
      step = 0;  // interrupted before its first checkpoint: start over with the same settings
    }
    checkpoint_step = step;
    log->truncate_to(step);
  }
};

Trainer::Trainer(const TrainConfig& config, Module& net, BatchSource& train, BatchSource& test, Device device,
                 DType dtype, RunLog* log)
    : impl_(std::make_unique<Impl>(config, net, train, test, device, dtype, log)) {}
Trainer::~Trainer() = default;
void Trainer::resume() { impl_->resume(); }
TrainResult Trainer::run(const TrainHooks& hooks) { return impl_->run(hooks); }
const SchedulePlan& Trainer::plan() const { return impl_->plan; }
int64_t Trainer::step() const { return impl_->step; }
int64_t Trainer::eval_every() const { return impl_->eval_every; }
Sgd& Trainer::optimizer() { return impl_->sgd; }
SelectionState& Trainer::selection() { return impl_->sel; }

}  // namespace dybat
