// DyBAT's batch schedule (docs/algorithm.md): which batch each training step uses, with the
// per-batch scores and the chosen ids kept in device memory. Reference: the plain host loop of
// train/reference/dybat.cpp. Fast kernels: train/selection_cpu.cpp and train/selection.cu.
//
// The plan is host arithmetic: b batches, k = int(delta * b) (in double) per selection pass, a
// budget of min(E * b, b + zeta * k) steps. Step s (0-based) is in the warm-up pass (pass 0,
// position s) while s < b, then in selection pass 1 + (s - b) / k at position (s - b) % k. So the
// host always knows the pass and the position; only the batch ids are on the device. The device
// keeps its own copy of the step too, so that one CUDA graph of the step serves every step:
//   - order [b] int64: the current pass's ids; the warm-up visits 0..b-1, and at the first step of
//     each selection pass select_top_k writes the k highest-scoring ids (ties to the lower id) into
//     order[0..k) in ascending id order. A step's batch id is the one-element view order[pos].
//   - score [b] float32: after each step's forward, record_batch_loss writes the mean of its
//     per-sample losses (summed in double, rounded to float32) into score[id]; the same value goes
//     to the trace buffer, which the host copies out once per flush, not per step.
//   - bad_step [1] int64: the first step (from 1) whose loss was not finite, 0 if none; read at
//     each flush.
//   - counters [3] int64: the step about to run (from 0), the next trace slot, and the step's
//     batch id. begin_schedule_step derives the place from counters[0] (selecting at the start of
//     a pass) and writes the id; record_step_loss reads the step and slot there and advances both.
//     The host counts the same steps (it knows how many it queued) but never reads these.
// With k = b (delta = 1) every pass visits 0..b-1: standard training, without a selection kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "core/collective.h"
#include "core/hd.h"
#include "core/tensor.h"

namespace dybat {

struct SchedulePlan {
  int64_t num_batches = 0;  // b
  double delta = 1.0;
  int64_t k = 0;            // batches per selection pass
  int64_t epochs = 0;       // E
  int64_t zeta = 0;         // upper bound on the number of selection passes
  int64_t total_steps = 0;  // min(E * b, b + zeta * k)
};

// k = int(delta * b) computed in double, as the original script; throws when delta is outside
// (0, 1] or k < 1.
int64_t selection_size(double delta, int64_t num_batches);
// The original's bound on selection passes: 50 * int((E - 1) / delta).
int64_t default_zeta(int64_t epochs, double delta);
// zeta < 0 means default_zeta.
SchedulePlan make_schedule(int64_t num_batches, double delta, int64_t epochs, int64_t zeta = -1);

struct StepPlace {
  int64_t pass = 0;      // 0 = warm-up
  int64_t position = 0;  // index into order
  bool starts_pass() const { return position == 0; }
};
StepPlace step_place(const SchedulePlan& plan, int64_t step);  // step counts from 0

// The same arithmetic for the device: b batches, k per selection pass, step from 0.
DYBAT_HD void schedule_place(int64_t b, int64_t k, int64_t step, int64_t& pass, int64_t& position) {
  if (step < b) {
    pass = 0;
    position = step;
    return;
  }
  pass = 1 + (step - b) / k;
  position = (step - b) % k;
}

// Kernel level.
// score[id] = trace_loss[slot] = float32(mean(losses)), trace_ids[slot] = id, where id = batch_id[0]
// (read on the device); when the mean is not finite and bad_step[0] == 0, bad_step[0] = step.
void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step);
// order[0..k) = the k ids with the highest score, ascending; ties go to the lower id, and a NaN
// score counts as the highest (so exactly k ids are chosen whatever the scores).
void select_top_k(const Tensor& score, int64_t k, const Tensor& order);
// With the step in device memory (counters as above, b = score.numel()): at the first step of a
// selection pass (pass > 0, position 0, k < b) order[0..k) = select_top_k(score, k); then
// counters[2] = order[position]. chosen: uint8 [b] scratch.
void begin_schedule_step(const Tensor& score, int64_t k, const Tensor& order, const Tensor& counters,
                         const Tensor& chosen);
// record_batch_loss with step = counters[0] + 1 and slot = counters[1] read on the device (a slot
// outside the trace buffer writes no trace row), then counters[0] and counters[1] advance by one.
void record_step_loss(const Tensor& losses, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step);
// The argument checks of record_step_loss, which its variants (train/global_loss.h) share: the
// batch id, counters, score, trace buffers and bad-step flag, all on the device of `like`.
void check_step_record(const char* op, const Tensor& like, const Tensor& batch_id, const Tensor& counters,
                       const Tensor& score, const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step);

// True when score a of batch i ranks before score b of batch j (higher first, NaN highest, ties
// to the lower id): a strict total order, shared by both backends.
DYBAT_HD bool ranks_before(float a, int64_t i, float b, int64_t j) {
  bool na = a != a, nb = b != b;
  if (na != nb) return na;
  if (!na && a != b) return a > b;
  return i < j;
}

struct TraceRow {
  int64_t step;  // from 1
  int64_t batch_id;
  float loss;
};

// The schedule's device-resident state for one run.
class SelectionState {
 public:
  // trace_capacity: the most steps between two flushes.
  SelectionState(const SchedulePlan& plan, Device device, int64_t trace_capacity);

  // A step in three parts, so that the device work can be captured once into a CUDA graph:
  //   check_step(step)   host: throws unless `step` (from 0) is the next one and the trace has room;
  //   choose_batch()     device: selects at the start of a pass, returns the one-element tensor
  //                      that holds the step's batch id (always the same tensor);
  //   record(losses, id) device: the step's per-sample losses into score, trace and bad_step;
  //   step_done()        host: counts the step (call once per step, however its work was queued).
  // None of them reads the device.
  void check_step(int64_t step) const;
  Tensor choose_batch();
  void record(const Tensor& losses, const Tensor& batch_id);
  void step_done();
  // The same for a loop without graphs: choose_batch(step) = check_step + choose_batch, and
  // record(losses, id, step) = record + step_done.
  Tensor choose_batch(int64_t step);
  void record(const Tensor& losses, const Tensor& batch_id, int64_t step);
  // choose_batch() with the selection passes ranked by `keys` (float32 [b], device) instead of the
  // scores: the random control fills keys with random numbers at each pass's first step.
  Tensor choose_batch_by(const Tensor& keys);
  // record() for a step that trains samples from anywhere in the split rather than one batch:
  // the trace row's batch id is -1 and no score changes (train/select_common.h).
  void record_samples(const Tensor& losses);
  // The step (from 0) the device is at: between choose_batch() and record(), the running step.
  Tensor step_counter() const { return counters_.slice(0, 1); }

  struct Flush {
    std::vector<TraceRow> rows;  // steps recorded since the last flush
    int64_t bad_step = 0;        // first step with a non-finite loss, 0 if none
  };
  // Copies the trace rows out (host reads) and starts a new buffer.
  Flush flush();
  int64_t pending() const { return pending_; }

  const SchedulePlan& plan() const { return plan_; }
  const Tensor& score() const { return score_; }
  const Tensor& order() const { return order_; }
  // Restores the device arrays from a checkpoint (any device; copied) taken after `next_step`
  // steps; the trace buffer starts empty.
  void restore(const Tensor& score, const Tensor& order, int64_t next_step);
  // Data-parallel runs: record() then scores a batch by the mean loss over every rank of
  // `global` (train/global_loss.h), one all-reduce per step on the device; null: this process's
  // losses alone (the default). Every rank then holds the same scores and picks the same ids.
  void set_collective(const Collective* global);

 private:
  SchedulePlan plan_;
  Tensor score_, order_, trace_ids_, trace_loss_, bad_step_;
  Tensor counters_;  // int64 [3]: step about to run (from 0), trace slot, batch id
  Tensor chosen_;    // uint8 [b]: selection scratch
  const Collective* global_ = nullptr;
  Tensor loss_sums_;  // float64 [2]: the step's loss sum and sample count, all-reduced (global_ set)
  int64_t first_step_ = 0;  // step (from 1) of the first pending row
  int64_t pending_ = 0;
  int64_t next_step_ = 0;   // the step (from 0) record() expects next
};

}  // namespace dybat
