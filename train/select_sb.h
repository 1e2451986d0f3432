// Selective-Backprop (--select selective-backprop; Jiang et al. 2019, "Accelerating deep learning
// by focusing on the biggest losers"), see select_method.h.
//
// The data are scored batch after batch, in order (batch c % b for the c-th scoring forward),
// with a no-grad forward. Sample i of a scored batch gets the percentile of its loss among the
// last W scored losses, itself included (scipy's percentileofscore, kind "rank", as the authors'
// code takes it over its loss history):
//   CDF = (#{h < l} + #{h <= l} + 1) / (2 n),  n = min(W, losses scored so far + 1)
// and is kept when u < CDF^beta, u = select_uniform(seed, Selective, c, i) (device Philox: a run
// is reproducible by its seed). Kept samples join a FIFO queue (by their index in the split);
// a training step takes the queue's first B samples, gathers them and runs forward, backward and
// SGD on them.
//
// A step is one such update, so a run has the standard epochs * b steps; the scoring forwards it
// takes to fill the queue vary (about 1 + beta batches per step when the losses are spread out)
// and are counted in work(). The "queue not yet full" question is answered on the device: the
// step is a device-side loop, while (queue < B) score the next batch, then train
// (GraphedStep::run_while: one CUDA graph with a conditional WHILE node; the CPU loop reads the
// flag where it lies). The queue holds fewer than B samples after each step and each scoring
// forward adds at most B, so its ring of 2B never overflows.
//
// State (device, checkpointed): the loss history ring [W] float32, the queue ring [2B] int64 and
// int64 state [4] = {losses scored, batches scored, queue head, queue length}.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>

#include "core/hd.h"
#include "core/tensor.h"

namespace dybat {

// x^beta, by repeated products for an integer beta (so both backends compute the same bits),
// else pow.
DYBAT_HD double sb_power(double x, double beta) {
  if (beta == static_cast<double>(static_cast<int>(beta))) {
    double p = 1.0;
    for (int i = 0; i < static_cast<int>(beta); ++i) p *= x;
    return p;
  }
  return pow(x, beta);
}

// The keep probability of a loss with `below` history losses under it and `at_or_below` at or
// under it, of n in the window (itself included).
DYBAT_HD double sb_keep_probability(int64_t below, int64_t at_or_below, int64_t n, double beta) {
  return sb_power(static_cast<double>(below + at_or_below + 1) / (2.0 * static_cast<double>(n)), beta);
}

// Kernel level (state as above; B = the batch size; Q = queue.numel() = 2B):
// batch_id[0] = state[1] % num_batches, the next batch to score, and pending[0] = (state[3] < B),
// int32: 1 while the queue cannot fill a step.
void sb_prepare(const Tensor& state, int64_t num_batches, int64_t batch, const Tensor& batch_id,
                const Tensor& pending);
// One scored batch: losses [B] of batch batch_id[0]; for each sample i in order, its CDF over
// the history window (history [W] float32: the last W losses, loss g at slot g % W) and the batch's
// own earlier samples, the draw and keep[i] (uint8 [B]); the batch's losses enter the history;
// kept samples id * B + i are appended to the queue in order; state[0] += B, state[1] += 1,
// state[3] += kept.
void sb_select(const Tensor& losses, const Tensor& batch_id, const Tensor& history, const Tensor& queue,
               const Tensor& state, const Tensor& keep, uint64_t seed, double beta);
// ids [B] = the queue's first B samples, which leave it (state[2], state[3]). The CPU throws when
// the queue holds fewer; the CUDA kernel then writes ids -1 (the gather marks them).
void sb_take(const Tensor& queue, const Tensor& state, const Tensor& ids);

struct MethodContext;
class SelectMethod;
std::unique_ptr<SelectMethod> make_sb_select(const MethodContext& ctx);

}  // namespace dybat
