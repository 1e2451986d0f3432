// Check macros for CUDA runtime, cuBLAS and cuDNN return codes (CUDA builds only).
//
// Each failure throws dybat::Error naming the failing call as text, the library's error name,
// file:line, and a hint where one helps (out of memory: use a smaller batch).
#pragma once

#if defined(DYBAT_CUDA)
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/capture.h"
#include "core/error.h"

namespace dybat::detail {
[[noreturn]] void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t code, const char* call, const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t code, const char* call, const char* file, int line);
const char* cublas_status_name(cublasStatus_t code);
}  // namespace dybat::detail

#define DYBAT_CUDA_CHECK(call)                                                               \
  do {                                                                                       \
    cudaError_t _e = (call);                                                                 \
    if (_e != cudaSuccess) ::dybat::detail::throw_cuda_error(_e, #call, __FILE__, __LINE__); \
  } while (0)

#define DYBAT_CUBLAS_CHECK(call)                                                                         \
  do {                                                                                                   \
    cublasStatus_t _s = (call);                                                                          \
    if (_s != CUBLAS_STATUS_SUCCESS) ::dybat::detail::throw_cublas_error(_s, #call, __FILE__, __LINE__); \
  } while (0)

#define DYBAT_CUDNN_CHECK(call)                                                                        \
  do {                                                                                                 \
    cudnnStatus_t _s = (call);                                                                         \
    if (_s != CUDNN_STATUS_SUCCESS) ::dybat::detail::throw_cudnn_error(_s, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: always check the launch itself (cheap, no synchronisation); in debug
// builds (DYBAT_SYNC_CHECK defined) also synchronise so a fault is reported at its kernel, except
// while a CUDA graph is being captured (a synchronisation would end the capture).
#if defined(DYBAT_SYNC_CHECK)
#define DYBAT_CUDA_LAUNCH_CHECK()                                                   \
  do {                                                                              \
    DYBAT_CUDA_CHECK(cudaGetLastError());                                           \
    if (!::dybat::capture_active()) DYBAT_CUDA_CHECK(cudaDeviceSynchronize());      \
  } while (0)
#else
#define DYBAT_CUDA_LAUNCH_CHECK() DYBAT_CUDA_CHECK(cudaGetLastError())
#endif

#endif  // DYBAT_CUDA
