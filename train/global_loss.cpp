// The global batch loss: checks and device dispatch (see global_loss.h).
#include "train/global_loss.h"

#include "core/dispatch.h"
#include "train/backend.h"
#include "train/selection.h"

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
  check_step_record(op, sums, batch_id, counters, score, trace_ids, trace_loss, bad_step);
  DYBAT_DISPATCH_DEVICE(sums.device(), record_step_sums, sums, batch_id, counters, score, trace_ids, trace_loss,
                        bad_step);
}

}  // namespace dybat
