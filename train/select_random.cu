// CUDA key kernel of the random control (see select_random.h): the step read from device memory,
// so one captured launch serves every step. Kernels, then launchers.
#include "kernels/cuda_launch.h"
#include "train/backend.h"
#include "train/select_common.h"
#include "train/select_random.h"

namespace dybat::cuda {

namespace {

__global__ void random_keys_kernel(const int64_t* step_counter, int64_t b, int64_t k, uint64_t seed, float* keys) {
  int64_t pass = 0, pos = 0;
  schedule_place(b, k, *step_counter, pass, pos);
  if (pass == 0 || pos != 0 || k == b) return;
  DYBAT_CUDA_KERNEL_LOOP(i, b) {
    keys[i] = select_uniform(seed, SelectStream::Random, static_cast<uint64_t>(pass), static_cast<uint64_t>(i));
  }
}

}  // namespace

void random_pass_keys(const Tensor& step_counter, int64_t k, uint64_t seed, const Tensor& keys) {
  const int dev = keys.device().index;
  const int64_t b = keys.numel();
  random_keys_kernel<<<grid_for(b, dev), kBlock, 0, stream(dev)>>>(step_counter.data<int64_t>(), b, k, seed,
                                                                   keys.data<float>());
  DYBAT_CUDA_LAUNCH_CHECK();
}

}  // namespace dybat::cuda
