// DyBAT's batch schedule (../shared/reference DYBAT.md): which batch each training step uses, with
// the per-batch scores and the chosen ids kept in device memory.
//
// The plan is host arithmetic: b batches, k = int(delta * b) (in double) per selection pass, a
// budget of min(E * b, b + zeta * k) steps. Step s (0-based) is in the warm-up pass (pass 0,
// position s) while s < b, then in selection pass 1 + (s - b) / k at position (s - b) % k. So the
// host always knows the pass and the position; only the batch ids are on the device:
//   - order [b] int64: the current pass's ids; the warm-up visits 0..b-1, and at the first step of
//     each selection pass select_top_k writes the k highest-scoring ids (ties to the lower id) into
//     order[0..k) in ascending id order. A step's batch id is the one-element view order[pos].
//   - score [b] float32: after each step's forward, record_batch_loss writes the mean of its
//     per-sample losses (summed in double, rounded to float32) into score[id]; the same value goes
//     to the trace buffer, which the host copies out once per flush, not per step.
//   - bad_step [1] int64: the first step (from 1) whose loss was not finite, 0 if none; read at
//     each flush.
// With k = b (delta = 1) every pass visits 0..b-1: standard training, without a selection kernel.
#pragma once

#include <cstdint>
#include <vector>

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

// Kernel level.
// score[id] = trace_loss[slot] = float32(mean(losses)), trace_ids[slot] = id, where id = batch_id[0]
// (read on the device); when the mean is not finite and bad_step[0] == 0, bad_step[0] = step.
void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step);
// order[0..k) = the k ids with the highest score, ascending; ties go to the lower id, and a NaN
// score counts as the highest (so exactly k ids are chosen whatever the scores).
void select_top_k(const Tensor& score, int64_t k, const Tensor& order);

namespace cpu {
void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step);
void select_top_k(const Tensor& score, int64_t k, const Tensor& order);
}  // namespace cpu
namespace cuda {
void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step);
void select_top_k(const Tensor& score, int64_t k, const Tensor& order);
}  // namespace cuda

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

  // Prepares step `step` (from 0): at the first step of a selection pass, selects the batches.
  // Returns the one-element device tensor holding the step's batch id. No host read.
  Tensor begin_step(int64_t step);
  // Records the step's per-sample losses (after its forward). No host read.
  void record(const Tensor& losses, const Tensor& batch_id, int64_t step);

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

 private:
  SchedulePlan plan_;
  Tensor score_, order_, trace_ids_, trace_loss_, bad_step_;
  int64_t first_step_ = 0;  // step (from 1) of the first pending row
  int64_t pending_ = 0;
  int64_t next_step_ = 0;   // the step (from 0) record() expects next
};

}  // namespace dybat
