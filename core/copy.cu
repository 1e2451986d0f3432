// CUDA copies, fills and accumulation (see copy.h): kernels first, then launchers.
#include <cuda_runtime.h>

#include "core/backend.h"
#include "core/copy.h"
#include "core/cuda_check.h"
#include "core/cuda_context.h"
#include "core/dispatch.h"
#include "core/strided.h"

namespace dybat::cuda {

namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 32 ? b : 65535 * 32);
}

template <class To, class From>
__global__ void copy_strided_kernel(To* dst, const From* src, StridedIndexer<2> ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = convert_scalar<To>(src[off[1]]);
  }
}

template <class To, class From>
__global__ void copy_contiguous_kernel(To* dst, const From* src, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = convert_scalar<To>(src[i]);
}

template <class T>
__global__ void fill_kernel(T* dst, T value, StridedIndexer<1> ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[1];
    ix.offsets(i, off);
    dst[off[0]] = value;
  }
}

template <class T>
__global__ void add_kernel(T* dst, const T* src, StridedIndexer<2> ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = convert_scalar<T>(convert_scalar<float>(dst[off[0]]) + convert_scalar<float>(src[off[1]]));
  }
}

template <>
__global__ void add_kernel<double>(double* dst, const double* src, StridedIndexer<2> ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] += src[off[1]];
  }
}

__global__ void advance_kernel(int64_t* counter) { *counter += 1; }

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  int dev = dst.device().index;
  cudaStream_t s = stream(dev);
  int64_t n = dst.numel();
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    DYBAT_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToDevice, s));
    return;
  }
  dispatch_all(dst.dtype(), "copy", [&](auto to_tag) {
    using to_t = DYBAT_SCALAR(to_tag);
    dispatch_all(src.dtype(), "copy", [&](auto from_tag) {
      using scalar_t = DYBAT_SCALAR(from_tag);
      if (dst.is_contiguous() && src.is_contiguous()) {
        copy_contiguous_kernel<to_t, scalar_t><<<blocks_for(n), kThreads, 0, s>>>(
            static_cast<to_t*>(dst.data_ptr()), static_cast<const scalar_t*>(src.data_ptr()), n);
      } else {
        const Shape* st[2] = {&dst.strides(), &src.strides()};
        auto ix = make_indexer<2>(dst.shape(), st);
        copy_strided_kernel<to_t, scalar_t><<<blocks_for(n), kThreads, 0, s>>>(
            static_cast<to_t*>(dst.data_ptr()), static_cast<const scalar_t*>(src.data_ptr()), ix, n);
      }
      DYBAT_CUDA_LAUNCH_CHECK();
    });
  });
}

void fill_into(const Tensor& dst, double value) {
  int dev = dst.device().index;
  cudaStream_t s = stream(dev);
  int64_t n = dst.numel();
  if (value == 0.0 && dst.is_contiguous()) {
    DYBAT_CUDA_CHECK(cudaMemsetAsync(dst.data_ptr(), 0, dst.nbytes(), s));
    return;
  }
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using scalar_t = DYBAT_SCALAR(tag);
    const Shape* st[1] = {&dst.strides()};
    auto ix = make_indexer<1>(dst.shape(), st);
    fill_kernel<scalar_t><<<blocks_for(n), kThreads, 0, s>>>(static_cast<scalar_t*>(dst.data_ptr()),
                                                               convert_scalar<scalar_t>(value), ix, n);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

void add_into(const Tensor& dst, const Tensor& src) {
  int dev = dst.device().index;
  cudaStream_t s = stream(dev);
  int64_t n = dst.numel();
  const Shape* st[2] = {&dst.strides(), &src.strides()};
  auto ix = make_indexer<2>(dst.shape(), st);
  auto launch = [&](auto* d, const auto* sr) {
    using T = std::remove_pointer_t<decltype(d)>;
    add_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(d, sr, ix, n);
    DYBAT_CUDA_LAUNCH_CHECK();
  };
  switch (dst.dtype()) {
    case DType::Float32: launch(static_cast<float*>(dst.data_ptr()), static_cast<const float*>(src.data_ptr())); break;
    case DType::Float64: launch(static_cast<double*>(dst.data_ptr()), static_cast<const double*>(src.data_ptr())); break;
    case DType::BFloat16: launch(static_cast<bf16*>(dst.data_ptr()), static_cast<const bf16*>(src.data_ptr())); break;
    default: DYBAT_FAIL("add_into: unsupported dtype ", dtype_name(dst.dtype()));
  }
}

void advance_counter(const Tensor& counter) {
  const int dev = counter.device().index;
  advance_kernel<<<1, 1, 0, stream(dev)>>>(counter.data<int64_t>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

}  // namespace dybat::cuda
