// The training loop: standard mini-batch training (delta = 1) and DyBAT (delta < 1) step for step
// as docs/algorithm.md states them, with evaluation every `eval_every` steps, the run folder's
// files and checkpoints. docs/life-of-a-step.md follows one step; train/reference/trainer.cpp is
// the same training as plain loops. The other selection methods (config select: random,
// sample-topk, selective-backprop, infobatch; train/select_method.h) run their own step work in
// the same loop, with the same counters, trace, budget, evaluations and checkpoints.
//
// A step: the batch id comes from device memory (SelectionState), the batch is gathered by it,
// forward, per-sample cross-entropy, the batch loss is reduced into score[id] and the trace buffer
// on the device, backward of the mean, SGD update. The host reads nothing inside a step; it reads
// the trace buffer and the non-finite flag at each flush (every evaluation, and every
// flush_seconds if set) and the metric sums at each evaluation.
//
// CUDA graphs (config cuda_graph "on", CUDA devices only): the step's device work is captured once,
// after two plain steps, and replayed for every later step; an evaluation batch likewise, per
// split. This works because nothing the work reads from the host changes between steps: the step
// counter, the batch id, the trace slot and the learning rate live in device memory and the
// step's own kernels advance them; buffers (inputs, gradients, momentum, scores) keep their
// addresses; the host keeps its own count of the steps for its bookkeeping (see
// train/graphed_step.h for what else a captured step must not do). The CPU runs the same code
// without graphs; set_capture_audit makes it check the capture rules there.
//
// A non-finite loss ends the run at the next flush with status NonFinite; the last checkpoint
// (written at the previous evaluation) is left as it was. A checkpoint that cannot be written
// (a full disk) stops the run with dybat::Error; the previous checkpoint is left as it was too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "layers/module.h"
#include "train/batches.h"
#include "train/config.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/run_log.h"
#include "train/selection.h"

namespace dybat {

class Communicator;
class DataParallel;

// Means of the four metrics over every batch of `src`, the net in `mode` (EvalBatchStats: the
// original's evaluation; Eval: running statistics), under no_grad. The mode is restored after.
// With `comm` (a data-parallel evaluation: `src` holds this rank's slices of the batches) each
// batch's metrics are those of the whole batch, gathered from every rank (train/data_parallel.h).
SplitMetrics evaluate(Module& net, const BatchSource& src, Mode mode, DType dtype, const Communicator* comm = nullptr);

struct Progress {
  int64_t step = 0, total_steps = 0;
  int64_t pass = 0;      // 0 = warm-up
  double epoch = 0;      // step / b
  double loss = 0;       // the latest loss read back (NaN before the first flush)
  int64_t loss_step = 0;  // the step that loss belongs to
  double img_per_s = 0;  // training throughput of this process so far
  double eta_s = 0;
  double elapsed_s = 0;
};

struct TrainHooks {
  std::function<void(const Progress&)> progress;  // at most every progress_seconds, and after evaluations
  double progress_seconds = 1.0;
  std::function<void(const MetricsRow&)> evaluated;
  std::function<void(int64_t step)> after_step;   // right after step `step` (from 1) updated the weights
  std::function<bool(int64_t step)> stop_after;   // true: stop after this step (and its evaluation, if any)
};

enum class TrainStatus { Completed, Stopped, NonFinite };

struct TrainResult {
  TrainStatus status = TrainStatus::Completed;
  int64_t steps = 0;        // steps done when the run ended
  int64_t bad_step = 0;     // NonFinite: the first step whose loss was not finite
  int64_t checkpoint_step = 0;  // step of the last checkpoint written or loaded
  MetricsRow last;          // the last evaluation (step 0 when none ran)
  std::string message;
};

class Trainer {
 public:
  // `config` holds the resolved settings; `log` may be null (no files, no checkpoints).
  Trainer(const TrainConfig& config, Module& net, BatchSource& train, BatchSource& test, Device device, DType dtype,
          RunLog* log);
  ~Trainer();
  // Loads the run's checkpoint (if it has one) and cuts its files back to that step.
  void resume();
  TrainResult run(const TrainHooks& hooks = {});

  const SchedulePlan& plan() const;
  int64_t step() const;
  int64_t eval_every() const;
  Sgd& optimizer();
  SelectionState& selection();
  // CPU (or graphs off): run the steps and evaluation batches after their warm-up inside a
  // CaptureScope, so a host read or a new allocation in them throws. Call before run().
  void set_capture_audit(bool on);
  bool uses_cuda_graphs() const;
  // Evaluates the training split's metrics on `src` instead of the training source: an
  // augmenting training source must not augment the evaluation batches. Call before run().
  void evaluate_train_on(const BatchSource& src);
  // Makes this loop one rank of a data-parallel run (train/data_parallel.h): the sources hold
  // this rank's slices of the batches, gradients, batch scores and metrics become global, and
  // only rank 0 writes the run's files (every rank reads them on resume). With one rank this
  // changes nothing. Call before resume() and run(); `dp` must outlive the trainer.
  void set_data_parallel(DataParallel* dp);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dybat
