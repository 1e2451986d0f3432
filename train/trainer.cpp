// The training loop, evaluation and checkpointing (see trainer.h).
#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/copy.h"
#include "core/settings.h"
#include "kernels/conv2d.h"
#include "kernels/loss.h"
#include "train/checkpoint.h"
#include "train/checkpoint_algos.h"
#include "train/data_parallel.h"
#include "train/graphed_step.h"
#include "train/select_method.h"
#include "train/step.h"

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
         " deterministic=" + (b.deterministic ? "1" : "0") + " conv_algo=" + conv_algo_search_name(b.conv_algo);
}

}  // namespace

// One split's evaluation, kept across evaluations: the input buffers, the batch cursor (device
// memory, advanced by the batch's own work) and the batch's graph. A batch gathers batch
// cursor[0], runs the net and adds its metrics on the device, so the same captured work serves
// every batch of every evaluation; the host reads only the sums at the end.
class SplitEvaluator {
 public:
  SplitEvaluator(const BatchSource& src, DType dtype, GraphedStep::Mode mode, const std::string& name,
                 const Communicator* comm = nullptr)
      : src_(src),
        dtype_(dtype),
        cursor_(Tensor::zeros({1}, DType::Int64, src.device())),
        x_(Tensor::empty(src.input_shape(), src.input_dtype(), src.device())),
        y_(Tensor::empty({src.batch_size()}, DType::Int64, src.device())),
        acc_(src.device()),
        batch_(src.device(), mode, "an evaluation batch of " + name) {
    if (comm && comm->size() > 1) global_ = std::make_unique<GlobalBatch>(*comm);
  }

  SplitMetrics run(Module& net, Mode mode) {
    ModeGuard guard(net, mode);
    NoGradGuard no_grad;
    const int64_t nb = src_.num_batches();
    DYBAT_CHECK(nb >= 1, "evaluation: the split has ", src_.num_samples(), " samples, fewer than one batch of ",
                src_.batch_size());
    cursor_.zero_();
    acc_.reset();
    for (int64_t i = 0; i < nb; ++i) batch_.run([&] { one_batch(net); });
    return acc_.result();
  }

 private:
  void one_batch(Module& net) {
    src_.gather(cursor_, x_, y_);
    Tensor logits = net(x_.dtype() == dtype_ ? x_ : x_.to(dtype_));
    Tensor losses = cross_entropy(logits, y_);
    if (global_) {
      GlobalBatch::Parts all = global_->gather(logits, y_, losses);  // the whole batch, from every rank
      acc_.add(all.logits, all.labels, all.losses);
    } else {
      acc_.add(logits, y_, losses);
    }
    advance_counter(cursor_);
  }

  const BatchSource& src_;
  DType dtype_;
  Tensor cursor_, x_, y_;
  MetricsAccumulator acc_;
  std::unique_ptr<GlobalBatch> global_;
  GraphedStep batch_;
};

SplitMetrics evaluate(Module& net, const BatchSource& src, Mode mode, DType dtype, const Communicator* comm) {
  return SplitEvaluator(src, dtype, GraphedStep::Mode::Eager, "the split", comm).run(net, mode);
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
  TrainStep step_fn;  // forward, loss, backward, SGD: the step every loop runs
  LrSchedule lr;
  Mode eval_mode;
  Tensor x, y;
  // The learning rate in device memory: lr_now, filled once for the constant schedule, or picked
  // from lr_table (one rate per step) by the step counter inside each step.
  Tensor lr_table, lr_now;
  bool audit = false;
  std::unique_ptr<GraphedStep> step_runner;
  std::unique_ptr<SelectMethod> method;  // --select other than dybat (train/select_method.h); null: DyBAT
  std::unique_ptr<SplitEvaluator> train_eval, test_eval;
  const BatchSource* train_metrics_source = nullptr;  // null: the training source itself
  int64_t step = 0;
  double elapsed_offset = 0;  // seconds spent before this process (from the checkpoint)
  int64_t checkpoint_step = 0;
  double last_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t last_loss_step = 0;
  DataParallel* dp = nullptr;  // set: one rank of a data-parallel run

  bool writes_files() const { return log && (!dp || dp->writes_files()); }
  int64_t samples_per_step() const { return train.batch_size() * (dp ? dp->size() : 1); }

  Impl(const TrainConfig& c, Module& n, BatchSource& tr, BatchSource& te, Device d, DType t, RunLog* l)
      : cfg(c),
        net(n),
        train(tr),
        test(te),
        device(d),
        dtype(t),
        log(l),
        plan(plan_schedule(c, tr, te)),
        eval_every(c.eval_every > 0 ? c.eval_every : plan.num_batches),
        sel(plan, d, eval_every),
        step_fn(n, SgdOptions{c.lr, c.momentum, c.weight_decay, c.nesterov}, tr.batch_size(), t, d),
        eval_mode(c.eval_bn == "running" ? Mode::Eval : Mode::EvalBatchStats) {
    lr.kind = c.lr_schedule;
    lr.base = c.lr;
    lr.total_steps = plan.total_steps;
    lr.steps_per_epoch = plan.num_batches;
    lr.step_epochs = c.lr_step_epochs;
    lr.gamma = c.lr_gamma;
    x = Tensor::empty(train.input_shape(), train.input_dtype(), device);
    y = Tensor::empty({train.batch_size()}, DType::Int64, device);
    if (lr.kind == "constant") {
      lr_now = Tensor::full({1}, lr.base, DType::Float64, device);
    } else {
      std::vector<double> rates(static_cast<size_t>(plan.total_steps));
      for (int64_t s = 0; s < plan.total_steps; ++s) rates[static_cast<size_t>(s)] = lr.at(s);
      lr_table = Tensor::from_vector(rates, {plan.total_steps}).to(device);
      lr_now = Tensor::zeros({1}, DType::Float64, device);
    }
    method = make_select_method({cfg, plan, net, train, step_fn, sel, x, y, lr_now, device, dtype});
  }

  // How the work on batches of `src` runs: one CUDA graph per step on a CUDA device (unless
  // --cuda-graph off, or the source's batches depend on host state set per step, such as the
  // augmentation stream, which a graph would freeze); plain calls elsewhere, audited for capture
  // safety when asked (set_capture_audit).
  GraphedStep::Mode step_mode(const BatchSource& src) const {
    if (device.is_cuda() && cfg.cuda_graph == "on" && !src.step_dependent()) return GraphedStep::Mode::Graph;
    return audit ? GraphedStep::Mode::Audit : GraphedStep::Mode::Eager;
  }

  static SchedulePlan plan_schedule(const TrainConfig& c, const BatchSource& tr, const BatchSource& te) {
    DYBAT_CHECK(tr.num_batches() >= 1, "--batch-size ", tr.batch_size(), " is larger than the training split (",
                tr.num_samples(), " samples)");
    DYBAT_CHECK(te.num_batches() >= 1, "--batch-size ", te.batch_size(), " is larger than the test split (",
                te.num_samples(), " samples)");
    return make_schedule(tr.num_batches(), c.delta, c.epochs, c.zeta);
  }

  // The device work of one step: everything it needs that changes from step to step (the step
  // counter, the batch id, the learning rate) is in device memory, so a capture of it replays as
  // any step (train/graphed_step.h).
  void step_work() {
    Tensor id = sel.choose_batch();
    if (lr_table.defined()) gather_batch(lr_table, sel.step_counter(), lr_now);
    train.gather(id, x, y);
    Tensor losses = step_fn.forward(x, y);
    sel.record(losses.detach(), id);
    step_fn.update(losses, lr_now);
  }

  void train_step() {
    if (!step_runner) step_runner = std::make_unique<GraphedStep>(device, step_mode(train), "the training step");
    sel.check_step(step);
    train.set_step(step);  // host state of augmenting sources (which then run without graphs)
    if (method)  // another selection method: its own device work, the rate picked first inside it
      method->run_step(step, step_mode(train), [this] {
        if (lr_table.defined()) gather_batch(lr_table, sel.step_counter(), lr_now);
      });
    else
      step_runner->run([this] { step_work(); });
    sel.step_done();
    ++step;
  }

  // The evaluators and their buffers come into being before the first step, so that memory they
  // keep is never taken from blocks a warm step has freed and will want again (the capture audit,
  // and on a GPU the graphs' private pools, count on a steady step finding its blocks).
  void make_evaluators() {
    const BatchSource& train_src = train_metrics_source ? *train_metrics_source : train;
    const Communicator* comm = dp ? &dp->comm() : nullptr;
    if (!train_eval)
      train_eval = std::make_unique<SplitEvaluator>(train_src, dtype, step_mode(train_src), "the training split", comm);
    if (!test_eval) test_eval = std::make_unique<SplitEvaluator>(test, dtype, step_mode(test), "the test split", comm);
  }

  void save(double elapsed) {
    if (!writes_files()) return;
    CheckpointState st;
    st.step = step;
    StepPlace at = step_place(plan, step);
    st.pass = at.pass;
    st.position = at.position;
    st.score = sel.score();
    st.order = sel.order();
    st.momentum = step_fn.optimizer().buffers();
    st.seed = cfg.seed;
    st.elapsed_s = elapsed;
    st.backend = backend_text();
    st.cudnn_algorithms = conv2d_algorithms_to_text(conv2d_algorithms());
    if (method) {
      st.method = method->state();
      st.select_work = method->work(step).to_json().dump();
    }
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
      p.img_per_s = run_s > 0 ? static_cast<double>(done * samples_per_step()) / run_s : 0;
      p.eta_s = done > 0 ? run_s / static_cast<double>(done) * static_cast<double>(plan.total_steps - step) : 0;
      p.elapsed_s = elapsed_offset + run_s;
      hooks.progress(p);
    };

    make_evaluators();
    while (step < plan.total_steps) {
      train_step();
      ++interval_steps;
      if (hooks.after_step) hooks.after_step(step);
      bool eval_now = step % eval_every == 0 || step == plan.total_steps;
      // Flushes at fixed steps are the same on every rank; timed ones (the shown loss) are not, so a
      // data-parallel run acts on a non-finite loss only at fixed ones, where every rank stops.
      bool fixed_flush = eval_now || sel.pending() == eval_every;
      bool flush_now = fixed_flush || (cfg.flush_seconds > 0 && seconds_since(last_flush) >= cfg.flush_seconds);
      if (flush_now) {
        SelectionState::Flush f = sel.flush();  // the host's only reads of the training steps
        interval_train += seconds_since(seg_start);
        seg_start = last_flush = Clock::now();
        if (f.bad_step > 0 && (fixed_flush || !dp)) {
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
        if (writes_files()) log->append_trace(f.rows);
        if (dp) dp->note_trace(f.rows);
        if (!f.rows.empty()) {
          last_loss = f.rows.back().loss;
          last_loss_step = f.rows.back().step;
        }
      }
      if (eval_now) {
        if (dp) {
          dp->check_trace(sel);
          dp->before_evaluation();
        }
        MetricsRow row;
        row.step = step;
        row.epoch = static_cast<double>(step) / static_cast<double>(plan.num_batches);
        row.train = train_eval->run(net, eval_mode);
        row.test = test_eval->run(net, eval_mode);
        row.img_per_s =
            interval_train > 0 ? static_cast<double>(interval_steps * samples_per_step()) / interval_train : 0;
        row.elapsed_s = elapsed_offset + seconds_since(t_start);
        if (writes_files()) log->append_metrics(row);
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
      // The cuDNN algorithms the run chose, so the continuation runs the same kernels.
      import_conv2d_algorithms(conv2d_algorithms_from_text(st.cudnn_algorithms));
      step_fn.optimizer().load_buffers(st.momentum);
      sel.restore(st.score, st.order, st.step);
      if (method) method->restore(st.method, st.step);
      step = st.step;
      elapsed_offset = st.elapsed_s;
    } else {
      step = 0;  // interrupted before its first checkpoint: start over with the same settings
    }
    checkpoint_step = step;
    if (writes_files()) log->truncate_to(step);
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
Sgd& Trainer::optimizer() { return impl_->step_fn.optimizer(); }
void Trainer::set_capture_audit(bool on) {
  DYBAT_CHECK(!impl_->step_runner, "set_capture_audit: call it before the run starts");
  impl_->audit = on;
}
bool Trainer::uses_cuda_graphs() const { return impl_->step_mode(impl_->train) == GraphedStep::Mode::Graph; }
SelectionState& Trainer::selection() { return impl_->sel; }
void Trainer::set_data_parallel(DataParallel* dp) {
  DYBAT_CHECK(!impl_->step_runner && impl_->step == 0, "set_data_parallel: call it before the run starts");
  if (!dp || dp->size() == 1) return;
  impl_->dp = dp;
  impl_->step_fn.set_gradient_sync(&dp->gradient_sync(), impl_->samples_per_step());
  impl_->sel.set_collective(&dp->comm());
}
void Trainer::evaluate_train_on(const BatchSource& src) {
  DYBAT_CHECK(src.num_batches() == impl_->train.num_batches() && src.batch_size() == impl_->train.batch_size(),
              "evaluate_train_on: the source must split the training data as the training source does");
  impl_->train_metrics_source = &src;
  impl_->train_eval.reset();  // made again, on this source, when the run starts
}

}  // namespace dybat
