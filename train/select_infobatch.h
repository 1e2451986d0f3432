// InfoBatch's dynamic data pruning (--select infobatch; Qin et al., ICLR 2024, "InfoBatch:
// lossless training speed up by unbiased dynamic data pruning"), see select_method.h.
//
// Every training sample has a score, its latest training loss (3 before its first step, as the
// authors' code starts). An InfoBatch epoch begins with a plan, made on the device:
//   mean  = float32(sum of the N scores in double / N)            (the fixed-order sum)
//   low   = the samples scoring below the mean, n_low of them      (host reads n_low: the run's
//                                                                   one read per epoch)
//   keep exactly m = int((1 - r) * n_low) of them, chosen at random: a low sample's key is
//   select_uniform(seed, InfoBatch, epoch, i), every other sample's +inf, and the schedule's
//   top-k kernel picks the N - n_low + m highest keys (ties to the lower index) into `kept`, in
//   ascending index order (the fixed order every method here trains in; the authors' sampler
//   shuffles them)
//   weight = 1 / (1 - r) for the low samples (the kept ones among them train with it), 1 for
//   the others
// and trains kept[j * B, (j + 1) * B) in its step j (drop-last: int(kept / B) steps). A step:
// gather those B samples by index, forward, score[i] = their losses, backward of
// sum(weight_i * loss_i) / B, SGD. Epochs that begin at or after step int((1 - anneal) * T)
// train on all N samples with weight 1 (InfoBatch's annealing). A step is one update, so a run
// has epochs * b steps like standard training: InfoBatch spends them on more, shorter epochs.
//
// State (device, checkpointed): score [N] float32, kept [N] int64, weight [N] float32, the step
// cursor [1] int64, and the plan {epoch, its first step, its steps, its kept samples} (host).
#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace dybat {

// The keep fraction of InfoBatch's low-score samples for --prune-ratio r: 1 - r, at least 0.1
// (as the authors' code clamps it).
double infobatch_keep_ratio(double prune_ratio);

// Kernel level. low[i] = score[i] < mean (uint8 [N]) with the mean as above; n_low[0] = the
// count (int64 [1]).
void infobatch_mark(const Tensor& score, const Tensor& low, const Tensor& n_low);
// keys[i] = low[i] ? select_uniform(seed, InfoBatch, epoch, i) : +inf, and weight[i] = low[i] ?
// low_weight : 1 (float32 [N] both).
void infobatch_plan(const Tensor& low, uint64_t seed, int64_t epoch, float low_weight, const Tensor& keys,
                    const Tensor& weight);
// ids[t] = kept[cursor[0] * B + t] for t < B = ids.numel() (cursor read on the device).
void infobatch_batch(const Tensor& kept, const Tensor& cursor, const Tensor& ids);
// After the step's forward: score[ids[t]] = float32(losses[t]) and dloss[t] = weight[ids[t]] *
// inv_batch (dloss of the losses' dtype, [B]).
void infobatch_record(const Tensor& losses, const Tensor& ids, const Tensor& weight, double inv_batch,
                      const Tensor& score, const Tensor& dloss);

struct MethodContext;
class SelectMethod;
std::unique_ptr<SelectMethod> make_infobatch_select(const MethodContext& ctx);

}  // namespace dybat
