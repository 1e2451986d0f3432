// CUDA schedule kernels: the batch loss as a fixed-order tree sum in double (one block), and the
// top-k selection as a rank count per batch (ties and NaN by ranks_before) followed by an
// in-order compaction, so the chosen ids land in ascending order. Kernels, then launchers.
#include "core/dispatch.h"
#include "kernels/cuda_launch.h"
#include "train/selection.h"

namespace dybat::cuda {

namespace {

template <class T>
__global__ void record_kernel(const T* losses, int64_t n, const int64_t* batch_id, int64_t step, float* score,
                              int64_t b, int64_t* trace_ids, float* trace_loss, int64_t slot, int64_t* bad_step) {
  __shared__ double partial[kBlock];
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += static_cast<double>(losses[i]);
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x != 0) return;
  float mean = static_cast<float>(partial[0] / static_cast<double>(n));
  int64_t id = *batch_id;
  bool ok = id >= 0 && id < b;
  if (ok) score[id] = mean;
  trace_ids[slot] = id;
  trace_loss[slot] = mean;
  if ((!ok || !isfinite(mean)) && *bad_step == 0) *bad_step = step;
}

__global__ void rank_kernel(const float* score, int64_t b, int64_t k, uint8_t* chosen) {
  DYBAT_CUDA_KERNEL_LOOP(i, b) {
    float si = score[i];
    int64_t rank = 0;
    for (int64_t j = 0; j < b && rank < k; ++j) rank += ranks_before(score[j], j, si, i);
    chosen[i] = rank < k;
  }
}

// Serial on purpose: b is small (batches per epoch) and the order must be ascending.
__global__ void compact_kernel(const uint8_t* chosen, int64_t b, int64_t k, int64_t* order) {
  int64_t p = 0;
  for (int64_t i = 0; i < b && p < k; ++i)
    if (chosen[i]) order[p++] = i;
}

}  // namespace

void record_batch_loss(const Tensor& losses, const Tensor& batch_id, int64_t step, const Tensor& score,
                       const Tensor& trace_ids, const Tensor& trace_loss, int64_t slot, const Tensor& bad_step) {
  int dev = losses.device().index;
  dispatch_float(losses.dtype(), "record_batch_loss (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    record_kernel<T><<<1, kBlock, 0, stream(dev)>>>(losses.data<T>(), losses.numel(), batch_id.data<int64_t>(), step,
                                                    score.data<float>(), score.numel(), trace_ids.data<int64_t>(),
                                                    trace_loss.data<float>(), slot, bad_step.data<int64_t>());
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

}  // namespace dybat::cuda
