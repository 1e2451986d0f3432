// CUDA shared selection-method kernels (see select_common.h): the trace row of a sample step, the
// mean as a fixed-order block tree in double. Kernels, then launchers.
#include "core/dispatch.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/select_common.h"

namespace dybat::cuda {

namespace {

template <class T>
__global__ void record_sample_kernel(const T* losses, int64_t n, int64_t* counters, int64_t* trace_ids,
                                     float* trace_loss, int64_t cap, int64_t* bad_step) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += static_cast<double>(losses[i]);
  acc = block_sum(acc);
  if (threadIdx.x != 0) return;
  const float mean = static_cast<float>(acc / static_cast<double>(n));
  const int64_t step = counters[0] + 1, slot = counters[1];
  if (slot >= 0 && slot < cap) {
    trace_ids[slot] = -1;
    trace_loss[slot] = mean;
  }
  if (!isfinite(mean) && *bad_step == 0) *bad_step = step;
  counters[0] += 1;
  counters[1] += 1;
}

}  // namespace

void record_sample_loss(const Tensor& losses, const Tensor& counters, const Tensor& trace_ids,
                        const Tensor& trace_loss, const Tensor& bad_step) {
  const int dev = losses.device().index;
  dispatch_float(losses.dtype(), "record_sample_loss (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    record_sample_kernel<T><<<1, kBlock, 0, stream(dev)>>>(losses.data<T>(), losses.numel(), counters.data<int64_t>(),
                                                           trace_ids.data<int64_t>(), trace_loss.data<float>(),
                                                           trace_ids.numel(), bad_step.data<int64_t>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
