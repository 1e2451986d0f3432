// The hard cut within each batch (--select sample-topk, see select_method.h), as airbench96
// makes it: score the whole batch with a no-grad forward, keep the m = int(keep * B) samples with
// the highest losses, and run forward and backward on those m only.
//
// A subset step, all on the device and the same shapes every step (so one CUDA graph holds it):
//   id = the schedule's batch (delta 1: every batch in order), gather batch id into x, y  [B]
//   scores = scoring_losses(x, y)                                                        [B]
//   kept = select_top_k(float32(scores), m): the m highest, ties to the lower index, in
//          ascending index order (the schedule's own top-k kernel)                        [m]
//   xs, ys = gather_by_index(x, kept), gather_by_index(y, kept)                          [m]
//   losses = forward(xs, ys); backward of their mean (1 / m each); SGD
//   trace and score[id]: the mean of the B scores (the batch's loss before the step)
// Steps in [int(keep_start * T), int(keep_end * T)) of the T steps are subset steps; the others
// train the whole batch as standard training does (their own captured step). Work per subset
// step: a forward of B samples and a forward and backward of m; BatchNorm in the subset step
// normalises over the m kept samples.
#pragma once

#include <memory>

namespace dybat {

struct MethodContext;
class SelectMethod;
std::unique_ptr<SelectMethod> make_topk_select(const MethodContext& ctx);

}  // namespace dybat
