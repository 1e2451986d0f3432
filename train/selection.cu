// CUDA schedule kernels: the batch loss as a fixed-order tree sum in double (one block), and the
// top-k selection as a rank count per batch (ties and NaN by ranks_before) followed by an
// in-order compaction, so the chosen ids land in ascending order. The step-counter versions read
// the step from device memory and do nothing (or only pick the id) on steps that do not start a
// selection pass, so the same launches serve every step of a captured graph. Kernels, then
// launchers.
#include "core/dispatch.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/selection.h"

namespace dybat::cuda {

namespace {

// counters (when not null): {step from 0, slot, id}; step and slot then come from there (and
// advance), and `step`/`slot` are ignored. cap: the trace buffer's length.
template <class T>
__global__ void record_kernel(const T* losses, int64_t n, const int64_t* batch_id, int64_t step, float* score,
                              int64_t b, int64_t* trace_ids, float* trace_loss, int64_t slot, int64_t cap,
                              int64_t* bad_step, int64_t* counters) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += static_cast<double>(losses[i]);
  acc = block_sum(acc);
  if (threadIdx.x != 0) return;
  float mean = static_cast<float>(acc / static_cast<double>(n));
  if (counters) {
    step = counters[0] + 1;
    slot = counters[1];
    counters[0] += 1;
    counters[1] += 1;
  }
  int64_t id = *batch_id;
  bool ok = id >= 0 && id < b;
  if (ok) score[id] = mean;
  if (slot >= 0 && slot < cap) {
    trace_ids[slot] = id;
    trace_loss[slot] = mean;
  }
  if ((!ok || !isfinite(mean)) && *bad_step == 0) *bad_step = step;
}

// chosen[i] = 1 when fewer than k batches rank before batch i (ranks_before), for every i this
// thread visits: exactly the k highest-scoring ids are marked. Grid-stride over the b batches.
__device__ void mark_top_k(const float* score, int64_t b, int64_t k, uint8_t* chosen) {
  DYBAT_CUDA_KERNEL_LOOP(i, b) {
    float si = score[i];
    int64_t rank = 0;
    for (int64_t j = 0; j < b && rank < k; ++j) rank += ranks_before(score[j], j, si, i);
    chosen[i] = rank < k;
  }
}

// order[0..k) = the marked ids in ascending order. One thread, serial on purpose: b is small
// (batches per epoch) and the order must be ascending.
__device__ void compact_marked(const uint8_t* chosen, int64_t b, int64_t k, int64_t* order) {
  int64_t p = 0;
  for (int64_t i = 0; i < b && p < k; ++i)
    if (chosen[i]) order[p++] = i;
}

__global__ void rank_kernel(const float* score, int64_t b, int64_t k, uint8_t* chosen) {
  mark_top_k(score, b, k, chosen);
}

__global__ void compact_kernel(const uint8_t* chosen, int64_t b, int64_t k, int64_t* order) {
  compact_marked(chosen, b, k, order);
}

// True when the step in counters[0] starts a selection pass (and its position, in *pos).
__device__ bool starts_selection(const int64_t* counters, int64_t b, int64_t k, int64_t* pos) {
  int64_t pass = 0;
  schedule_place(b, k, counters[0], pass, *pos);
  return pass > 0 && *pos == 0 && k < b;
}

__global__ void rank_if_starting_kernel(const float* score, int64_t b, int64_t k, const int64_t* counters,
                                        uint8_t* chosen) {
  int64_t pos = 0;
  if (starts_selection(counters, b, k, &pos)) mark_top_k(score, b, k, chosen);
}

// One thread: compacts a new selection when the step starts a pass, then picks the step's id.
__global__ void pick_kernel(const uint8_t* chosen, int64_t b, int64_t k, int64_t* order, int64_t* counters) {
  int64_t pos = 0;
  if (starts_selection(counters, b, k, &pos)) compact_marked(chosen, b, k, order);
  counters[2] = order[pos];
}

}  // namespace

void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step) {
  int dev = losses.device().index;
  dispatch_float(losses.dtype(), "record_batch_loss (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    record_kernel<T><<<1, kBlock, 0, stream(dev)>>>(losses.data<T>(), losses.numel(), batch_id.data<int64_t>(), step,
                                                    score.data<float>(), score.numel(), trace_ids.data<int64_t>(),
                                                    trace_loss.data<float>(), slot, trace_ids.numel(),
                                                    bad_step.data<int64_t>(), nullptr);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void select_top_k(const Tensor& score, int64_t k, const Tensor& order) {
  int dev = score.device().index;
  int64_t b = score.numel();
  Tensor chosen = Tensor::empty({b}, DType::UInt8, score.device());
  rank_kernel<<<grid_for(b, dev), kBlock, 0, stream(dev)>>>(score.data<float>(), b, k, chosen.data<uint8_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
  compact_kernel<<<1, 1, 0, stream(dev)>>>(chosen.data<uint8_t>(), b, k, order.data<int64_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

void begin_schedule_step(const Tensor& score, int64_t k, const Tensor& order, const Tensor& counters,
                         const Tensor& chosen) {
  int dev = score.device().index;
  int64_t b = score.numel();
  rank_if_starting_kernel<<<grid_for(b, dev), kBlock, 0, stream(dev)>>>(score.data<float>(), b, k,
                                                                      counters.data<int64_t>(), chosen.data<uint8_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
  pick_kernel<<<1, 1, 0, stream(dev)>>>(chosen.data<uint8_t>(), b, k, order.data<int64_t>(), counters.data<int64_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

void record_step_loss(const Tensor& losses, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step) {
  int dev = losses.device().index;
  dispatch_float(losses.dtype(), "record_step_loss (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    record_kernel<T><<<1, kBlock, 0, stream(dev)>>>(losses.data<T>(), losses.numel(), batch_id.data<int64_t>(), 0,
                                                    score.data<float>(), score.numel(), trace_ids.data<int64_t>(),
                                                    trace_loss.data<float>(), 0, trace_ids.numel(),
                                                    bad_step.data<int64_t>(), counters.data<int64_t>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
