// CUDA batch gathers: a grid-stride copy of B rows whose start comes from the batch id in device
// memory (an id outside the split copies nothing and leaves out as it was), and a copy of the rows
// an index list names. Kernels, then launchers.
#include "core/dispatch.h"
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/batches.h"

namespace dybat::cuda {

namespace {

template <class T>
__global__ void gather_rows_kernel(const T* src, int64_t src_rows, const int64_t* batch_id, int64_t rows, int64_t row_len,
                              T* out) {
  int64_t id = *batch_id;
  if (id < 0 || (id + 1) * rows > src_rows) return;
  const T* from = src + id * rows * row_len;
  DYBAT_CUDA_KERNEL_LOOP(i, rows * row_len) { out[i] = from[i]; }
}

// out row j = src row index[j]; an index outside the rows leaves out row j as it was.
template <class T>
__global__ void gather_index_kernel(const T* src, int64_t src_rows, const int64_t* index, int64_t rows, int64_t row_len,
                                    T* out) {
  DYBAT_CUDA_KERNEL_LOOP(i, rows * row_len) {
    const int64_t j = i / row_len, r = index[j];
    if (r >= 0 && r < src_rows) out[i] = src[r * row_len + i % row_len];
  }
}

}  // namespace

void gather_batch(const Tensor& src, const Tensor& batch_id, const Tensor& out) {
  int dev = out.device().index;
  int64_t rows = out.size(0), row_len = out.numel() / rows;
  dispatch_all(out.dtype(), "gather_batch (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    gather_rows_kernel<T><<<grid_for(out.numel(), dev), kBlock, 0, stream(dev)>>>(
        src.data<T>(), src.size(0), batch_id.data<int64_t>(), rows, row_len, out.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void gather_by_index(const Tensor& src, const Tensor& index, const Tensor& out) {
  int dev = out.device().index;
  int64_t rows = out.size(0), row_len = out.numel() / rows;
  dispatch_all(out.dtype(), "gather_by_index (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    gather_index_kernel<T><<<grid_for(out.numel(), dev), kBlock, 0, stream(dev)>>>(
        src.data<T>(), src.size(0), index.data<int64_t>(), rows, row_len, out.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dybat::cuda
