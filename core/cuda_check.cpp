// Error reporting for CUDA, cuBLAS and cuDNN calls (see cuda_check.h).
#if defined(DYBAT_CUDA)
#include "core/cuda_check.h"

#include <string>

namespace dybat::detail {

void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line) {
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(code) + " (" + cudaGetErrorString(code) +
                    ") in " + call;
  if (code == cudaErrorMemoryAllocation)
    msg += "; hint: the GPU ran out of memory, try a smaller --batch-size or --crop";
  if (code == cudaErrorNoDevice || code == cudaErrorInsufficientDriver)
    msg += "; hint: no usable CUDA device here, run with --device cpu";
  throw_error(msg, file, line);
}

const char* cublas_status_name(cublasStatus_t code) {
  switch (code) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

void throw_cublas_error(cublasStatus_t code, const char* call, const char* file, int line) {
  std::string msg = std::string("cuBLAS error ") + cublas_status_name(code) + " in " + call;
  if (code == CUBLAS_STATUS_ALLOC_FAILED) msg += "; hint: out of GPU memory, try a smaller --batch-size";
  throw_error(msg, file, line);
}

void throw_cudnn_error(cudnnStatus_t code, const char* call, const char* file, int line) {
  std::string msg = std::string("cuDNN error ") + cudnnGetErrorString(code) + " in " + call;
  if (code == CUDNN_STATUS_ALLOC_FAILED) msg += "; hint: out of GPU memory, try a smaller --batch-size";
  throw_error(msg, file, line);
}

}  // namespace dybat::detail
#endif  // DYBAT_CUDA
