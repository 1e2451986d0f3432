// Launch-shape helpers shared by the CUDA kernels (include from .cu files only).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda_check.h"
#include "core/cuda_context.h"

namespace dybat::cuda {

constexpr int kBlock = 256;

// A grid-stride launch over n elements: enough blocks to fill the GPU several times over.
inline int grid_for(int64_t n, int device) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  int64_t cap = static_cast<int64_t>(sm_count(device)) * 32;
  if (blocks > cap) blocks = cap;
  return static_cast<int>(blocks < 1 ? 1 : blocks);
}

// for (i = global thread index; i < n; i += grid size)
#define DYBAT_CUDA_KERNEL_LOOP(i, n)                                                          \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

}  // namespace dybat::cuda
