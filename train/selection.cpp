// DyBAT schedule: the host-side plan, device dispatch with checks, and the device-resident state
// (see selection.h).
#include "train/selection.h"

#include <cmath>

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/batches.h"
#include "train/global_loss.h"
#include "train/select_common.h"

namespace dybat {

int64_t selection_size(double delta, int64_t num_batches) {
  DYBAT_CHECK(std::isfinite(delta) && delta > 0.0 && delta <= 1.0, "--delta must be in (0, 1], got ", delta);
  DYBAT_CHECK(num_batches >= 1, "the training split has no full batch (", num_batches, " batches)");
  // int(delta * b) in double, as the original: 0.29 * 100 = 28.999999999999996 gives 28.
  int64_t k = static_cast<int64_t>(delta * static_cast<double>(num_batches));
  DYBAT_CHECK(k >= 1, "--delta ", delta, " selects int(", delta, " * ", num_batches,
              ") = 0 batches per pass; raise --delta to at least ", 1.0 / static_cast<double>(num_batches),
              " or use smaller batches");
  return k;
}

int64_t default_zeta(int64_t epochs, double delta) {
  return 50 * static_cast<int64_t>(static_cast<double>(epochs - 1) / delta);
}

SchedulePlan make_schedule(int64_t num_batches, double delta, int64_t epochs, int64_t zeta) {
  DYBAT_CHECK(epochs >= 1, "--epochs must be at least 1, got ", epochs);
  SchedulePlan p;
  p.num_batches = num_batches;
  p.delta = delta;
  p.k = selection_size(delta, num_batches);
  p.epochs = epochs;
  p.zeta = zeta < 0 ? default_zeta(epochs, delta) : zeta;
  // The budget of standard training, unless zeta runs out of passes first.
  int64_t budget = epochs * num_batches;
  int64_t bound = num_batches + p.zeta * p.k;
  p.total_steps = budget < bound ? budget : bound;
  return p;
}

StepPlace step_place(const SchedulePlan& plan, int64_t step) {
  DYBAT_CHECK(step >= 0, "step_place: negative step ", step);
  StepPlace at;
  schedule_place(plan.num_batches, plan.k, step, at.pass, at.position);
  return at;
}

void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step) {
  DYBAT_CHECK(losses.dim() == 1 && losses.numel() > 0, "record_batch_loss: losses must be [n], got ", losses.str());
  DYBAT_CHECK(batch_id.dtype() == DType::Int64 && batch_id.numel() == 1, "record_batch_loss: batch id must be one int64");
  DYBAT_CHECK(score.dtype() == DType::Float32 && score.dim() == 1 && score.is_contiguous(),
              "record_batch_loss: score must be contiguous float32 [b]");
  DYBAT_CHECK(slot >= 0 && slot < trace_ids.numel() && slot < trace_loss.numel(), "record_batch_loss: trace slot ",
              slot, " outside the buffer of ", trace_ids.numel());
  DYBAT_CHECK(bad_step.dtype() == DType::Int64 && bad_step.numel() == 1, "record_batch_loss: bad_step must be one int64");
  for (const Tensor* t : {&batch_id, &score, &trace_ids, &trace_loss, &bad_step})
    check_same_device(losses, *t, "record_batch_loss");
  DYBAT_DISPATCH_DEVICE(losses.device(), record_batch_loss, losses.contiguous(), batch_id, step, score, trace_ids,
                        trace_loss, slot, bad_step);
}

void select_top_k(const Tensor& score, int64_t k, const Tensor& order) {
  DYBAT_CHECK(score.dtype() == DType::Float32 && score.dim() == 1 && score.is_contiguous(),
              "select_top_k: score must be contiguous float32 [b]");
  DYBAT_CHECK(order.dtype() == DType::Int64 && order.is_contiguous() && order.numel() >= k,
              "select_top_k: order must be contiguous int64 with room for ", k, " ids");
  DYBAT_CHECK(k >= 1 && k <= score.numel(), "select_top_k: k = ", k, " outside [1, ", score.numel(), "]");
  check_same_device(score, order, "select_top_k");
  DYBAT_DISPATCH_DEVICE(score.device(), select_top_k, score, k, order);
}

namespace {
void check_counters(const Tensor& counters, const Tensor& like, const char* op) {
  DYBAT_CHECK(counters.dtype() == DType::Int64 && counters.numel() == 3 && counters.is_contiguous(), op,
              ": counters must be contiguous int64 [3], got ", counters.str());
  check_same_device(counters, like, op);
}
}  // namespace

void begin_schedule_step(const Tensor& score, int64_t k, const Tensor& order, const Tensor& counters,
                         const Tensor& chosen) {
  const char* op = "begin_schedule_step";
  DYBAT_CHECK(score.dtype() == DType::Float32 && score.dim() == 1 && score.is_contiguous(), op,
              ": score must be contiguous float32 [b]");
  const int64_t b = score.numel();
  DYBAT_CHECK(order.dtype() == DType::Int64 && order.is_contiguous() && order.numel() == b, op,
              ": order must be contiguous int64 [", b, "]");
  DYBAT_CHECK(k >= 1 && k <= b, op, ": k = ", k, " outside [1, ", b, "]");
  DYBAT_CHECK(chosen.dtype() == DType::UInt8 && chosen.numel() == b && chosen.is_contiguous(), op,
              ": chosen must be contiguous uint8 [", b, "]");
  check_counters(counters, score, op);
  check_same_device(score, order, op);
  check_same_device(score, chosen, op);
  DYBAT_DISPATCH_DEVICE(score.device(), begin_schedule_step, score, k, order, counters, chosen);
}

void check_step_record(const char* op, const Tensor& like, const Tensor& batch_id, const Tensor& counters,
                       const Tensor& score, const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step) {
  DYBAT_CHECK(batch_id.dtype() == DType::Int64 && batch_id.numel() == 1, op, ": batch id must be one int64");
  DYBAT_CHECK(score.dtype() == DType::Float32 && score.dim() == 1 && score.is_contiguous(), op,
              ": score must be contiguous float32 [b]");
  DYBAT_CHECK(trace_ids.dtype() == DType::Int64 && trace_loss.dtype() == DType::Float32 &&
                  trace_ids.numel() == trace_loss.numel() && trace_ids.is_contiguous() && trace_loss.is_contiguous(),
              op, ": the trace buffers must be contiguous int64 and float32 of one length");
  DYBAT_CHECK(bad_step.dtype() == DType::Int64 && bad_step.numel() == 1, op, ": bad_step must be one int64");
  check_counters(counters, like, op);
  for (const Tensor* t : {&batch_id, &score, &trace_ids, &trace_loss, &bad_step}) check_same_device(like, *t, op);
}

void record_step_loss(const Tensor& losses, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step) {
  const char* op = "record_step_loss";
  DYBAT_CHECK(losses.dim() == 1 && losses.numel() > 0, op, ": losses must be [n], got ", losses.str());
  check_step_record(op, losses, batch_id, counters, score, trace_ids, trace_loss, bad_step);
  DYBAT_DISPATCH_DEVICE(losses.device(), record_step_loss, losses.contiguous(), batch_id, counters, score, trace_ids,
                        trace_loss, bad_step);
}

// ---- SelectionState ------------------------------------------------------------------------------

SelectionState::SelectionState(const SchedulePlan& plan, Device device, int64_t trace_capacity) : plan_(plan) {
  DYBAT_CHECK(trace_capacity >= 1, "SelectionState: trace capacity must be >= 1");
  int64_t b = plan.num_batches;
  order_ = batch_ids(b, device);  // the warm-up pass visits 0..b-1
  score_ = Tensor::zeros({b}, DType::Float32, device);
  trace_ids_ = Tensor::zeros({trace_capacity}, DType::Int64, device);
  trace_loss_ = Tensor::zeros({trace_capacity}, DType::Float32, device);
  bad_step_ = Tensor::zeros({1}, DType::Int64, device);
  counters_ = Tensor::zeros({3}, DType::Int64, device);
  chosen_ = Tensor::zeros({b}, DType::UInt8, device);
}

void SelectionState::check_step(int64_t step) const {
  DYBAT_CHECK(step == next_step_, "SelectionState: step ", step + 1, " out of order (expected step ", next_step_ + 1,
              ")");
  DYBAT_CHECK(pending_ < trace_ids_.numel(), "SelectionState: trace buffer full (", pending_,
              " steps since the last flush)");
}

Tensor SelectionState::choose_batch() {
  begin_schedule_step(score_, plan_.k, order_, counters_, chosen_);
  return counters_.slice(2, 3);
}

void SelectionState::record(const Tensor& losses, const Tensor& batch_id) {
  if (global_) {
    batch_loss_sums(losses.detach(), loss_sums_);
    global_->all_reduce_sum(loss_sums_);
    record_step_sums(loss_sums_, batch_id, counters_, score_, trace_ids_, trace_loss_, bad_step_);
    return;
  }
  record_step_loss(losses, batch_id, counters_, score_, trace_ids_, trace_loss_, bad_step_);
}

Tensor SelectionState::choose_batch_by(const Tensor& keys) {
  begin_schedule_step(keys, plan_.k, order_, counters_, chosen_);
  return counters_.slice(2, 3);
}

void SelectionState::record_samples(const Tensor& losses) {
  record_sample_loss(losses, counters_, trace_ids_, trace_loss_, bad_step_);
}

void SelectionState::set_collective(const Collective* global) {
  global_ = global;
  if (global_ && !loss_sums_.defined()) loss_sums_ = Tensor::zeros({2}, DType::Float64, score_.device());
}

void SelectionState::step_done() {
  if (pending_ == 0) first_step_ = next_step_ + 1;
  ++pending_;
  ++next_step_;
}

Tensor SelectionState::choose_batch(int64_t step) {
  check_step(step);
  return choose_batch();
}

void SelectionState::record(const Tensor& losses, const Tensor& batch_id, int64_t step) {
  check_step(step);
  record(losses, batch_id);
  step_done();
}

SelectionState::Flush SelectionState::flush() {
  Flush f;
  f.bad_step = static_cast<int64_t>(bad_step_.item());
  if (pending_ > 0) {
    std::vector<int64_t> ids = trace_ids_.slice(0, pending_).to_vector<int64_t>();
    std::vector<float> loss = trace_loss_.slice(0, pending_).to_vector<float>();
    for (int64_t i = 0; i < pending_; ++i) f.rows.push_back({first_step_ + i, ids[i], loss[i]});
    counters_.slice(1, 2).zero_();  // the device's next trace slot (a fill, no copy)
  }
  pending_ = 0;
  return f;
}

void SelectionState::restore(const Tensor& score, const Tensor& order, int64_t next_step) {
  DYBAT_CHECK(score.shape() == score_.shape() && order.shape() == order_.shape(),
              "checkpoint: score/order shapes ", shape_str(score.shape()), "/", shape_str(order.shape()),
              " do not match this run's ", plan_.num_batches, " batches");
  score_.copy_(score);
  order_.copy_(order);
  counters_.copy_(Tensor::from_vector<int64_t>({next_step, 0, 0}, {3}));
  pending_ = 0;
  next_step_ = next_step;
}

}  // namespace dybat
