// The global batch loss: checks and device dispatch (see global_loss.h).
#include "train/global_loss.h"

#include "core/dispatch.h"
#include "train/backend.h"

namespace dybat {

void batch_loss_sums(const Tensor& losses, const Tensor& sums) {
  DYBAT_CHECK(losses.dim() == 1 && losses.numel() > 0, "batch_loss_sums: losses must be [n], got ", losses.str());
  DYBAT_CHECK(sums.dtype() == DType::Float64 && sums.numel() == 2 && sums.is_contiguous(),
              "batch_loss_sums: sums must be contiguous float64 [2], got ", sums.str());
  check_same_device(losses, sums, "batch_loss_sums");
  DYBAT_DISPATCH_DEVICE(losses.device(), batch_loss_sums, losses.contiguous(), sums);
}

void record_step_sums(const Tensor& sums, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step) {
  const char* op = "record_step_sums";
  DYBAT_CHECK(sums.dtype() == DType::Float64 && sums.numel() == 2 && sums.is_contiguous(), op,
              ": sums must be contiguous float64 [2], got ", sums.str());
  DYBAT_CHECK(batch_id.dtype() == DType::Int64 && batch_id.numel() == 1, op, ": batch id must be one int64");
  DYBAT_CHECK(counters.dtype() == DType::Int64 && counters.numel() == 3 && counters.is_contiguous(), op,
              ": counters must be contiguous int64 [3], got ", counters.str());
  DYBAT_CHECK(score.dtype() == DType::Float32 && score.dim() == 1 && score.is_contiguous(), op,
              ": score must be contiguous float32 [b]");
  DYBAT_CHECK(trace_ids.dtype() == DType::Int64 && trace_loss.dtype() == DType::Float32 &&
                  trace_ids.numel() == trace_loss.numel() && trace_ids.is_contiguous() && trace_loss.is_contiguous(),
              op, ": the trace buffers must be contiguous int64 and float32 of one length");
  DYBAT_CHECK(bad_step.dtype() == DType::Int64 && bad_step.numel() == 1, op, ": bad_step must be one int64");
  for (const Tensor* t : {&batch_id, &counters, &score, &trace_ids, &trace_loss, &bad_step})
    check_same_device(sums, *t, op);
  DYBAT_DISPATCH_DEVICE(sums.device(), record_step_sums, sums, batch_id, counters, score, trace_ids, trace_loss,
                        bad_step);
}

}  // namespace dybat
