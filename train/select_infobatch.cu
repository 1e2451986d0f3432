// CUDA InfoBatch kernels (see select_infobatch.h): the mean as a fixed-order block tree in double
// (one block), the rest one thread per sample. Kernels, then launchers.
#include <cuda/std/limits>

#include "core/dispatch.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/select_common.h"
#include "train/select_infobatch.h"

namespace dybat::cuda {

namespace {

// One block: the mean, then the marks and their count (an int64 tree sum: exact in any order).
__global__ void mark_kernel(const float* score, int64_t n, uint8_t* low, int64_t* n_low) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += static_cast<double>(score[i]);
  const float mean = static_cast<float>(block_sum(acc) / static_cast<double>(n));
  int64_t count = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    low[i] = score[i] < mean ? 1 : 0;
    count += low[i];
  }
  count = block_sum(count);
  if (threadIdx.x == 0) *n_low = count;
}

__global__ void plan_kernel(const uint8_t* low, int64_t n, uint64_t seed, int64_t epoch, float low_weight, float* keys,
                            float* weight) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) {
    keys[i] = low[i] ? select_uniform(seed, SelectStream::InfoBatch, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i))
                     : ::cuda::std::numeric_limits<float>::infinity();
    weight[i] = low[i] ? low_weight : 1.0f;
  }
}

// An index past the kept list writes -1 (the gather marks the sample).
__global__ void batch_kernel(const int64_t* kept, int64_t n, const int64_t* cursor, int64_t* ids, int64_t B) {
  const int64_t first = *cursor * B;
  DYBAT_CUDA_KERNEL_LOOP(t, B) { ids[t] = first >= 0 && first + t < n ? kept[first + t] : -1; }
}

template <class T>
__global__ void record_kernel(const T* losses, const int64_t* ids, int64_t B, const float* weight, int64_t n,
                              double inv_batch, float* score, T* dloss) {
  DYBAT_CUDA_KERNEL_LOOP(t, B) {
    const int64_t i = ids[t];
    const bool ok = i >= 0 && i < n;
    if (ok) score[i] = static_cast<float>(losses[t]);
    dloss[t] = static_cast<T>(ok ? static_cast<double>(weight[i]) * inv_batch : 0.0);
  }
}

}  // namespace

void infobatch_mark(const Tensor& score, const Tensor& low, const Tensor& n_low) {
  const int dev = score.device().index;
  mark_kernel<<<1, kBlock, 0, stream(dev)>>>(score.data<float>(), score.numel(), low.data<uint8_t>(),
                                             n_low.data<int64_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

void infobatch_plan(const Tensor& low, uint64_t seed, int64_t epoch, float low_weight, const Tensor& keys,
                    const Tensor& weight) {
  const int dev = low.device().index;
  const int64_t n = low.numel();
  plan_kernel<<<grid_for(n, dev), kBlock, 0, stream(dev)>>>(low.data<uint8_t>(), n, seed, epoch, low_weight,
                                                            keys.data<float>(), weight.data<float>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

void infobatch_batch(const Tensor& kept, const Tensor& cursor, const Tensor& ids) {
  const int dev = ids.device().index;
  batch_kernel<<<grid_for(ids.numel(), dev), kBlock, 0, stream(dev)>>>(
      kept.data<int64_t>(), kept.numel(), cursor.data<int64_t>(), ids.data<int64_t>(), ids.numel());
  DYBAT_CUDA_LAUNCH_CHECK();
}

void infobatch_record(const Tensor& losses, const Tensor& ids, const Tensor& weight, double inv_batch,
                      const Tensor& score, const Tensor& dloss) {
  const int dev = losses.device().index;
  dispatch_float(losses.dtype(), "infobatch_record (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    record_kernel<T><<<grid_for(losses.numel(), dev), kBlock, 0, stream(dev)>>>(
        losses.data<T>(), ids.data<int64_t>(), losses.numel(), weight.data<float>(), score.numel(), inv_batch,
        score.data<float>(), dloss.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
