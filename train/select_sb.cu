// CUDA Selective-Backprop kernels (see select_sb.h): one block per scored batch, each thread
// taking samples i = threadIdx.x, threadIdx.x + blockDim.x, ...; the per-sample formulas are the
// shared ones, so the choices equal the CPU's bit for bit. Kernels, then launchers.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/select_common.h"
#include "train/select_sb.h"

namespace dybat::cuda {

namespace {

__global__ void sb_prepare_kernel(const int64_t* state, int64_t num_batches, int64_t batch, int64_t* batch_id,
                                  int32_t* pending) {
  *batch_id = state[1] % num_batches;
  *pending = state[3] < batch ? 1 : 0;
}

// One block: the keep decisions (history read), then the history written (the last W of the
// batch, each slot once), then the kept samples queued in order by thread 0.
template <class T>
__global__ void sb_select_kernel(const T* losses, int64_t B, const int64_t* batch_id, float* hist, int64_t W,
                                 int64_t* queue, int64_t Q, int64_t* state, uint8_t* keep, uint64_t seed,
                                 double beta) {
  const int64_t seen = state[0], cursor = state[1];
  for (int64_t i = threadIdx.x; i < B; i += blockDim.x) {
    const float li = static_cast<float>(losses[i]);
    const int64_t n = min(W, seen + i + 1);
    int64_t below = 0, at_or_below = 0;
    for (int64_t g = seen + i + 1 - n; g <= seen + i; ++g) {
      const float v = g < seen ? hist[g % W] : static_cast<float>(losses[g - seen]);
      below += v < li;
      at_or_below += v <= li;
    }
    const double u = select_uniform(seed, SelectStream::Selective, static_cast<uint64_t>(cursor),
                                    static_cast<uint64_t>(i));
    keep[i] = u < sb_keep_probability(below, at_or_below, n, beta) ? 1 : 0;
  }
  __syncthreads();
  for (int64_t i = (B > W ? B - W : 0) + threadIdx.x; i < B; i += blockDim.x)
    hist[(seen + i) % W] = static_cast<float>(losses[i]);
  __syncthreads();  // every keep[i] is written
  if (threadIdx.x != 0) return;
  const int64_t id = *batch_id, head = state[2], len = state[3];
  int64_t added = 0;
  for (int64_t i = 0; i < B; ++i)
    if (keep[i]) queue[(head + len + added++) % Q] = id * B + i;
  state[0] = seen + B;
  state[1] = cursor + 1;
  state[3] = len + added;
}

// One block: every thread reads the head first, then thread 0 pops.
__global__ void sb_take_kernel(const int64_t* queue, int64_t Q, int64_t* state, int64_t* ids, int64_t B) {
  const int64_t head = state[2], len = state[3];
  for (int64_t j = threadIdx.x; j < B; j += blockDim.x) ids[j] = len >= B ? queue[(head + j) % Q] : -1;
  __syncthreads();
  if (threadIdx.x == 0 && len >= B) {
    state[2] = (head + B) % Q;
    state[3] = len - B;
  }
}

}  // namespace

void sb_prepare(const Tensor& state, int64_t num_batches, int64_t batch, const Tensor& batch_id,
                const Tensor& pending) {
  const int dev = state.device().index;
  sb_prepare_kernel<<<1, 1, 0, stream(dev)>>>(state.data<int64_t>(), num_batches, batch, batch_id.data<int64_t>(),
                                              pending.data<int32_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

void sb_select(const Tensor& losses, const Tensor& batch_id, const Tensor& history, const Tensor& queue,
               const Tensor& state, const Tensor& keep, uint64_t seed, double beta) {
  const int dev = losses.device().index;
  dispatch_float(losses.dtype(), "sb_select (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    sb_select_kernel<T><<<1, kBlock, 0, stream(dev)>>>(
        losses.data<T>(), losses.numel(), batch_id.data<int64_t>(), history.data<float>(), history.numel(),
        queue.data<int64_t>(), queue.numel(), state.data<int64_t>(), keep.data<uint8_t>(), seed, beta);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void sb_take(const Tensor& queue, const Tensor& state, const Tensor& ids) {
  const int dev = ids.device().index;
  sb_take_kernel<<<1, kBlock, 0, stream(dev)>>>(queue.data<int64_t>(), queue.numel(), state.data<int64_t>(),
                                               ids.data<int64_t>(), ids.numel());
  DYBAT_CUDA_LAUNCH_CHECK();
}

}  // namespace dybat::cuda
