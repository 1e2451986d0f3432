// DyBAT's batch loss over every rank of a data-parallel run: the score of a batch is the mean
// loss of the whole batch, not of one rank's slice, so every rank writes the same score[id] and
// picks the same top-k batches on its own device, with no host round trip (SelectionState calls
// these when a Collective is set; see selection.h).
//
//   sums = {sum of this rank's per-sample losses (double, in sample order), its sample count}
//   all-reduce(sums)                              (the Collective, on the device's stream)
//   score[id] = trace_loss[slot] = float32(sums[0] / sums[1])
// Sums and counts, not a mean of means: the result is the one-process mean up to the order of the
// double additions, for any split of the batch.
#pragma once

#include "core/tensor.h"

namespace dybat {

// Kernel level. sums: float64 [2] on the losses' device.
void batch_loss_sums(const Tensor& losses, const Tensor& sums);
// record_step_loss (selection.h) with the batch mean taken from all-reduced sums: step =
// counters[0] + 1 and slot = counters[1] read on the device, both advanced by one.
void record_step_sums(const Tensor& sums, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step);

}  // namespace dybat
