// CUDA metrics: the batch's [0,1] check, one thread per row (scores and top-k hits), one thread per
// sample for the AUROC pair counts, and a single-thread finish that adds the batch's values to the
// device accumulator in a fixed order. Nothing is read back to the host. Kernels, then launchers.
#include "core/dispatch.h"
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/metrics.h"
#include "train/metrics_math.h"

namespace dybat::cuda {

namespace {

// flag[0] = 1 when some logit lies outside [0, 1] (or is NaN); every writer stores the same value.
template <class T>
__global__ void outside_unit_kernel(const T* z, int64_t count, int* flag) {
  DYBAT_CUDA_KERNEL_LOOP(i, count) {
    if (!in_unit_interval(z[i])) *flag = 1;
  }
}

template <class T>
__global__ void rows_kernel(const T* z, const int64_t* y, int64_t n, int64_t c, int64_t top_k, const int* outside,
                            T* P, uint8_t* hits) {
  bool raw = *outside == 0;
  DYBAT_CUDA_KERNEL_LOOP(i, n) { metrics_row(z + i * c, c, y[i], raw, top_k, P + i * c, hits + i); }
}

template <class T>
__global__ void pairs_kernel(const T* P, const int64_t* y, int64_t n, int64_t c, int64_t* cnt2) {
  DYBAT_CUDA_KERNEL_LOOP(i, n) { cnt2[i] = auroc_pair_count(P, y, n, c, i); }
}

template <class T>
__global__ void finish_kernel(const T* losses, const int64_t* y, const int64_t* cnt2, const uint8_t* hits, int64_t n,
                              int64_t c, int64_t* scratch, double* acc) {
  metrics_finish(losses, y, cnt2, hits, n, c, scratch, acc);
}

}  // namespace

void metrics_accumulate(const Tensor& logits, const Tensor& labels, const Tensor& losses, int64_t top_k,
                        const Tensor& acc) {
  int64_t n = logits.size(0), c = logits.size(1);
  Device d = logits.device();
  int dev = d.index;
  cudaStream_t s = stream(dev);
  Tensor outside = Tensor::zeros({1}, DType::Int32, d);
  Tensor P = Tensor::empty({n, c}, logits.dtype(), d);
  Tensor hits = Tensor::empty({n}, DType::UInt8, d);
  Tensor cnt2 = Tensor::empty({n}, DType::Int64, d);
  Tensor scratch = Tensor::empty({2 * c}, DType::Int64, d);
  dispatch_float(logits.dtype(), "metrics (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const int64_t* y = labels.data<int64_t>();
    outside_unit_kernel<T><<<grid_for(n * c, dev), kBlock, 0, s>>>(logits.data<T>(), n * c, outside.data<int>());
    DYBAT_CUDA_LAUNCH_CHECK();
    rows_kernel<T><<<grid_for(n, dev), kBlock, 0, s>>>(logits.data<T>(), y, n, c, top_k, outside.data<int>(),
                                                       P.data<T>(), hits.data<uint8_t>());
    DYBAT_CUDA_LAUNCH_CHECK();
    pairs_kernel<T><<<grid_for(n, dev), kBlock, 0, s>>>(P.data<T>(), y, n, c, cnt2.data<int64_t>());
    DYBAT_CUDA_LAUNCH_CHECK();
    finish_kernel<T><<<1, 1, 0, s>>>(losses.data<T>(), y, cnt2.data<int64_t>(), hits.data<uint8_t>(), n, c,
                                     scratch.data<int64_t>(), acc.data<double>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
