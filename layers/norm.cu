// CUDA side of BatchNorm2d: the device-side num_batches_tracked increment.
#include <cstdint>

#include "kernels/cuda_launch.h"

namespace dybat::cuda {

namespace {
__global__ void increment_int64_kernel(int64_t* counter) { *counter += 1; }
}  // namespace

void increment_int64(int64_t* counter, int device) {
  increment_int64_kernel<<<1, 1, 0, stream(device)>>>(counter);
  DYBAT_CUDA_LAUNCH_CHECK();
}

}  // namespace dybat::cuda
