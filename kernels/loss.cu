// CUDA softmax cross-entropy, one warp per row: kernels, then launchers.
//
// Each lane walks its share of the row's classes; the warp combines maxima and sums with a
// shuffle tree whose shape is fixed, so results do not depend on timing. An out-of-range label
// gives NaN for its row (checking it on the host would need a synchronisation).
#include <cmath>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/cuda_launch.h"
#include "kernels/loss.h"
#include "kernels/loss_math.h"

namespace dybat::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kBlock / kWarp;

// Reductions down to lane 0, then broadcast from lane 0 so every lane holds the same value.
template <class Acc>
__device__ Acc warp_max(Acc v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
  return __shfl_sync(0xffffffffu, v, 0);
}
template <class Acc>
__device__ Acc warp_sum(Acc v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return __shfl_sync(0xffffffffu, v, 0);
}

// Row max m and s = sum exp(z - m), identical in every lane of the warp.
template <class T, class Acc>
__device__ void row_stats(const T* z, int64_t classes, int lane, Acc& m, Acc& s) {
  Acc mx = -INFINITY;
  for (int64_t j = lane; j < classes; j += kWarp) mx = fmax(mx, static_cast<Acc>(z[j]));
  m = warp_max(mx);
  Acc acc = 0;
  for (int64_t j = lane; j < classes; j += kWarp) acc += exp(static_cast<Acc>(z[j]) - m);
  s = warp_sum(acc);
}

template <class T, class Acc>
__global__ void cross_entropy_forward_kernel(const T* logits, const int64_t* labels, int64_t n, int64_t classes,
                                             T* losses) {
  int lane = threadIdx.x % kWarp;
  int64_t warps = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; i < n; i += warps) {
    const T* z = logits + i * classes;
    Acc m, s;
    row_stats<T, Acc>(z, classes, lane, m, s);
    if (lane == 0) {
      int64_t y = labels[i];
      losses[i] =
          ce_label_valid(y, classes) ? static_cast<T>(ce_loss<Acc>(m, s, static_cast<Acc>(z[y]))) : static_cast<T>(NAN);
    }
  }
}

template <class T, class Acc>
__global__ void cross_entropy_backward_kernel(const T* dlosses, const T* logits, const int64_t* labels, int64_t n,
                                              int64_t classes, T* dlogits) {
  int lane = threadIdx.x % kWarp;
  int64_t warps = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; i < n; i += warps) {
    const T* z = logits + i * classes;
    Acc m, s;
    row_stats<T, Acc>(z, classes, lane, m, s);
    int64_t y = labels[i];
    Acc inv_s = ce_label_valid(y, classes) ? Acc(1) / s : static_cast<Acc>(NAN);
    Acc dl = static_cast<Acc>(dlosses[i]);
    for (int64_t j = lane; j < classes; j += kWarp)
      dlogits[i * classes + j] = static_cast<T>(ce_grad<Acc>(static_cast<Acc>(z[j]), m, inv_s, j == y, dl));
  }
}

int grid_for_rows(int64_t n, int dev) {
  int64_t blocks = (n + kRowsPerBlock - 1) / kRowsPerBlock;
  int64_t cap = static_cast<int64_t>(sm_count(dev)) * 16;
  return static_cast<int>(blocks < cap ? blocks : cap);
}

}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, const Tensor& losses) {
  int dev = logits.device().index;
  int64_t n = logits.size(0), classes = logits.size(1);
  dispatch_float(logits.dtype(), "cross_entropy (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    cross_entropy_forward_kernel<T, T><<<grid_for_rows(n, dev), kBlock, 0, stream(dev)>>>(
        logits.data<T>(), labels.data<int64_t>(), n, classes, losses.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void cross_entropy_backward(const Tensor& dlosses, const Tensor& logits, const Tensor& labels, const Tensor& dlogits) {
  int dev = logits.device().index;
  int64_t n = logits.size(0), classes = logits.size(1);
  dispatch_float(logits.dtype(), "cross_entropy backward (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    cross_entropy_backward_kernel<T, T><<<grid_for_rows(n, dev), kBlock, 0, stream(dev)>>>(
        dlosses.data<T>(), logits.data<T>(), labels.data<int64_t>(), n, classes, dlogits.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
