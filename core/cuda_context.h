// Per-device CUDA state: the one stream every op runs on, and the cuBLAS and cuDNN handles bound
// to it (CUDA builds only). Ops never synchronise the host; only explicit calls below do.
#pragma once

#if defined(DYBAT_CUDA)
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace dybat::cuda {

// Makes `device` current for this thread and returns its stream (created on first use).
cudaStream_t stream(int device);
cublasHandle_t cublas(int device);
cudnnHandle_t cudnn(int device);
// Number of SMs of the device, for launch-shape choices (cached).
int sm_count(int device);

}  // namespace dybat::cuda
#endif
