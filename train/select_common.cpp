// Shared selection-method kernels: dispatch with checks (see select_common.h).
#include "train/select_common.h"

#include "core/dispatch.h"
#include "train/backend.h"

namespace dybat {

void record_sample_loss(const Tensor& losses, const Tensor& counters, const Tensor& trace_ids,
                        const Tensor& trace_loss, const Tensor& bad_step) {
  const char* op = "record_sample_loss";
  DYBAT_CHECK(losses.dim() == 1 && losses.numel() > 0, op, ": losses must be [n], got ", losses.str());
  DYBAT_CHECK(counters.dtype() == DType::Int64 && counters.numel() == 3 && counters.is_contiguous(), op,
              ": counters must be contiguous int64 [3]");
  DYBAT_CHECK(trace_ids.dtype() == DType::Int64 && trace_loss.dtype() == DType::Float32 &&
                  trace_ids.numel() == trace_loss.numel() && trace_ids.is_contiguous() && trace_loss.is_contiguous(),
              op, ": the trace buffers must be contiguous int64 and float32 of one length");
  DYBAT_CHECK(bad_step.dtype() == DType::Int64 && bad_step.numel() == 1, op, ": bad_step must be one int64");
  for (const Tensor* t : {&counters, &trace_ids, &trace_loss, &bad_step}) check_same_device(losses, *t, op);
  DYBAT_DISPATCH_DEVICE(losses.device(), record_sample_loss, losses.contiguous(), counters, trace_ids, trace_loss,
                        bad_step);
}

}  // namespace dybat
