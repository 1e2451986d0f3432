// The selection methods besides DyBAT (--select, config.h's kSelectMethods): what each training
// step trains on. Each lives in its own files (train/select_<method>.*: the method, its kernels,
// their CPU twins and CUDA versions); the trainer calls them through SelectMethod.
//
//   random              the control: DyBAT's schedule (a warm-up pass over the b batches, then
//                       passes of k = int(delta * b) batches in ascending id order), but each
//                       pass's k batches are chosen uniformly at random (Philox keys ranked by the
//                       same top-k kernel) instead of by their last loss.
//   sample-topk         every batch is scored by a no-grad forward; the keep * B samples with the
//                       highest losses (ties to the lower index) train, forward and backward on
//                       that subset only (airbench96's hard cut). Outside [keep_start, keep_end)
//                       of the steps the whole batch trains.
//   selective-backprop  Jiang et al. 2019: batches are scored in order; each sample is kept with
//                       probability CDF(loss)^beta, its loss's percentile among the last `window`
//                       scored losses; kept samples queue until B of them are backpropagated.
//   infobatch           Qin et al. 2024: a score per training sample (its last loss, 3 at first);
//                       each epoch prunes a fraction r of the samples scoring below the mean, at
//                       random, and weights the kept ones of those by 1 / (1 - r); the last
//                       `anneal` fraction of the steps trains on all samples.
//
// The budget is the same for every method: a step is one optimizer update, and a run has
// standard training's epochs * b steps (DyBAT and random: min(E * b, b + zeta * k)). What else
// costs compute (the scoring forwards) is counted in work(). The trace row of a step names its
// batch, or -1 when the step trains samples from anywhere in the split (selective-backprop,
// infobatch). BatchNorm in a subset step normalises over the kept samples only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/safetensors.h"
#include "layers/module.h"
#include "train/batches.h"
#include "train/config.h"
#include "train/graphed_step.h"
#include "train/selection.h"
#include "train/step.h"

namespace dybat {

// What a method's steps use, all owned by the trainer.
struct MethodContext {
  const TrainConfig& cfg;
  const SchedulePlan& plan;
  Module& net;
  BatchSource& train;
  TrainStep& step;
  SelectionState& sel;  // the schedule's counters, the scores and the trace
  Tensor x, y;          // the step's input buffers, [B, ...] and int64 [B]
  Tensor lr;            // the rate in device memory, current once begin() has run
  Device device;
  DType dtype;
};

// Work done so far, for the reports: samples that went through a training forward and backward,
// and samples that went through a no-grad scoring forward only.
struct SelectWork {
  int64_t trained = 0, scored = 0;
  nlohmann::json to_json() const { return {{"trained_samples", trained}, {"scored_samples", scored}}; }
};

class SelectMethod {
 public:
  virtual ~SelectMethod() = default;
  // Runs training step `step` (from 0, the host's count). Host planning may come first (outside
  // the captured work); then the device work through the method's GraphedStep(s) in `mode`.
  // `begin` queues the trainer's per-step device work (the rate), first inside the work.
  virtual void run_step(int64_t step, GraphedStep::Mode mode, const std::function<void()>& begin) = 0;
  // The method's device state for a checkpoint (copied to the host) and its restoration after
  // `next_step` steps (tensors from load_checkpoint, on the CPU).
  virtual NamedTensors state() const { return {}; }
  virtual void restore(const NamedTensors& state, int64_t next_step) {
    (void)state;
    (void)next_step;
  }
  // The work of the first `steps` steps (may read device counters: call outside the steps).
  virtual SelectWork work(int64_t steps) const = 0;
};

// The method cfg.select names; null for dybat (the trainer's own loop). Throws for a setting the
// method cannot run with (e.g. a subset of zero samples).
std::unique_ptr<SelectMethod> make_select_method(const MethodContext& ctx);

// One line on what the run's method does, with its settings ("DyBAT delta 0.5", "sample-topk:
// keep 0.5 of each batch in [0, 1) of the steps", ...), for train's start-up summary.
std::string select_method_text(const TrainConfig& cfg);
// The bytes the method adds to a checkpoint, for `samples` training samples (0 for dybat).
uint64_t select_state_bytes(const TrainConfig& cfg, int64_t samples);

// The tensor `name` of a checkpoint's method state, checked against `like`'s shape and dtype.
Tensor method_tensor(const NamedTensors& state, const std::string& name, const Tensor& like);

// The per-sample losses [n] of a scoring forward: no gradients, BatchNorm normalising with the
// batch's own statistics and leaving its running ones alone (Mode::EvalBatchStats), so the losses
// are the ones a training forward of the same batch would give, without its side effects. The
// net's mode is restored after.
Tensor scoring_losses(Module& net, const Tensor& x, const Tensor& y, DType dtype);

}  // namespace dybat
