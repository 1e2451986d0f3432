// Fixed-order sums over a CUDA block of kBlock threads (include from .cu files only): every thread
// contributes its partial, a fixed tree combines them, so a sum is bit-identical run to run (no
// atomics). The result is valid in thread 0; every thread of the block must call.
#pragma once

#include "kernels/cuda_launch.h"

namespace dybat::cuda {

// Two sums at once (a, b), over the block.
__device__ inline void block_sum2(double& a, double& b) {
  __shared__ double sa[kBlock], sb[kBlock];
  sa[threadIdx.x] = a;
  sb[threadIdx.x] = b;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      sa[threadIdx.x] += sa[threadIdx.x + s];
      sb[threadIdx.x] += sb[threadIdx.x + s];
    }
    __syncthreads();
  }
  a = sa[0];
  b = sb[0];
}

}  // namespace dybat::cuda
