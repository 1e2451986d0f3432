// CUDA global batch-loss kernels: the local sum as a fixed-order tree in double (one block, as
// record_batch_loss), and a one-thread record from the reduced sums. Kernels, then launchers.
#include "core/dispatch.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/global_loss.h"

namespace dybat::cuda {

namespace {

template <class T>
__global__ void loss_sums_kernel(const T* losses, int64_t n, double* sums) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += static_cast<double>(losses[i]);
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    sums[0] = acc;
    sums[1] = static_cast<double>(n);
  }
}

// counters: {step from 0, slot, id}; an id outside [0, b) or a non-finite mean marks bad_step.
__global__ void record_sums_kernel(const double* sums, const int64_t* batch_id, int64_t* counters, float* score,
                                   int64_t b, int64_t* trace_ids, float* trace_loss, int64_t cap, int64_t* bad_step) {
  const float mean = static_cast<float>(sums[0] / sums[1]);
  const int64_t step = counters[0] + 1, slot = counters[1], id = *batch_id;
  counters[0] += 1;
  counters[1] += 1;
  const bool ok = id >= 0 && id < b;
  if (ok) score[id] = mean;
  if (slot >= 0 && slot < cap) {
    trace_ids[slot] = id;
    trace_loss[slot] = mean;
  }
  if ((!ok || !isfinite(mean)) && *bad_step == 0) *bad_step = step;
}

}  // namespace

void batch_loss_sums(const Tensor& losses, const Tensor& sums) {
  const int dev = losses.device().index;
  dispatch_float(losses.dtype(), "batch_loss_sums (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    loss_sums_kernel<T><<<1, kBlock, 0, stream(dev)>>>(losses.data<T>(), losses.numel(), sums.data<double>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void record_step_sums(const Tensor& sums, const Tensor& batch_id, const Tensor& counters, const Tensor& score,
                      const Tensor& trace_ids, const Tensor& trace_loss, const Tensor& bad_step) {
  const int dev = sums.device().index;
  record_sums_kernel<<<1, 1, 0, stream(dev)>>>(sums.data<double>(), batch_id.data<int64_t>(), counters.data<int64_t>(),
                                               score.data<float>(), score.numel(), trace_ids.data<int64_t>(),
                                               trace_loss.data<float>(), trace_ids.numel(), bad_step.data<int64_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

}  // namespace dybat::cuda
