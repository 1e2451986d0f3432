// Fixed-order sums over a thread block, the one reduction every own CUDA kernel uses (include
// from .cu files only).
//
// Each thread brings N values; block_sum returns, in every thread, the N sums over the block's
// threads. The sum is a tree over shared memory: in round s (s = kBlock/2, kBlock/4, ..., 1)
// thread t < s adds the partial of thread t + s to its own. The order of the additions depends
// only on the thread indices, never on timing, so the result is the same on every run (no float
// atomics). Launch the kernel with blockDim.x == kBlock, and call it from every thread of the
// block (it synchronises the block). It may be called several times in one kernel.
#pragma once

#include "kernels/cuda_launch.h"

namespace dybat::cuda {

template <class T, int N>
__device__ void block_sum(T (&v)[N]) {
  __shared__ T partial[N][kBlock];
  __syncthreads();  // an earlier call's readers are done with the buffer
  for (int i = 0; i < N; ++i) partial[i][threadIdx.x] = v[i];
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s)
      for (int i = 0; i < N; ++i) partial[i][threadIdx.x] += partial[i][threadIdx.x + s];
    __syncthreads();
  }
  for (int i = 0; i < N; ++i) v[i] = partial[i][0];
}

// One value per thread: the block's sum, in every thread.
template <class T>
__device__ T block_sum(T v) {
  T one[1] = {v};
  block_sum(one);
  return one[0];
}

// Two values per thread (a, b): their two sums, in every thread.
template <class T>
__device__ void block_sum(T& a, T& b) {
  T two[2] = {a, b};
  block_sum(two);
  a = two[0];
  b = two[1];
}

}  // namespace dybat::cuda
