// CUDA matrix products on cuBLAS (float32, float64, and bfloat16 with float32 accumulation), and
// the column-sum kernel of a bias gradient: kernels, then launchers.
#include "core/dispatch.h"
#include "core/settings.h"
#include "kernels/backend.h"
#include "kernels/cuda_launch.h"
#include "kernels/matmul.h"

namespace dybat::cuda {

namespace {

constexpr int kColTile = 32;  // columns per block (one warp across them: coalesced row reads)
constexpr int kRowLanes = 8;  // row stripes per block

// out[j] += sum_r x[r, j]. Block (32, 8): thread (tx, ty) sums rows ty, ty+8, ... of column j in
// order, then thread ty = 0 adds the eight partials in order: a fixed order, no atomics.
template <class T, class Acc>
__global__ void sum_rows_accumulate_kernel(const T* x, int64_t rows, int64_t cols, T* out) {
  __shared__ Acc partial[kRowLanes][kColTile];
  int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  Acc acc = 0;
  if (j < cols)
    for (int64_t r = threadIdx.y; r < rows; r += kRowLanes) acc += convert_scalar<Acc>(x[r * cols + j]);
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < cols) {
    Acc s = 0;
    for (int i = 0; i < kRowLanes; ++i) s += partial[i][threadIdx.x];
    out[j] = convert_scalar<T>(convert_scalar<Acc>(out[j]) + s);
  }
}

}  // namespace

// Row-major C [M,N] is column-major C^T [N,M], and C^T = op(B)^T op(A)^T: cuBLAS is called with
// the operands swapped, each stored matrix read as its own transpose with ld = its row length.
void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  int dev = c.device().index;
  int m = static_cast<int>(c.size(0)), n = static_cast<int>(c.size(1));
  int k = static_cast<int>(trans_a ? a.size(0) : a.size(1));
  int lda = static_cast<int>(a.size(1) > 0 ? a.size(1) : 1), ldb = static_cast<int>(b.size(1) > 0 ? b.size(1) : 1);
  int ldc = n > 0 ? n : 1;
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t h = cublas(dev);  // bound to stream(dev)
  switch (c.dtype()) {
    case DType::Float32: {
      // TF32 tensor cores only when asked; otherwise full float32 products. The handle is shared
      // with other ops, so both the math mode and the compute type are set on every call.
      bool tf32 = backend_settings().tf32_matmul;
      DYBAT_CUBLAS_CHECK(cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
      float al = static_cast<float>(alpha), be = static_cast<float>(beta);
      DYBAT_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, n, m, k, &al, b.data_ptr(), CUDA_R_32F, ldb, a.data_ptr(),
                                      CUDA_R_32F, lda, &be, c.data_ptr(), CUDA_R_32F, ldc,
                                      tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      break;
    }
    case DType::BFloat16: {
      // Mixed precision: bf16 operands on tensor cores, float32 accumulation and scaling.
      DYBAT_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
      float al = static_cast<float>(alpha), be = static_cast<float>(beta);
      DYBAT_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, n, m, k, &al, b.data_ptr(), CUDA_R_16BF, ldb, a.data_ptr(),
                                      CUDA_R_16BF, lda, &be, c.data_ptr(), CUDA_R_16BF, ldc, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
      break;
    }
    case DType::Float64: {
      DYBAT_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
      DYBAT_CUBLAS_CHECK(cublasDgemm(h, op_b, op_a, n, m, k, &alpha, b.data<double>(), ldb, a.data<double>(), lda,
                                     &beta, c.data<double>(), ldc));
      break;
    }
    default:
      DYBAT_FAIL("gemm (cuda): unsupported dtype ", dtype_name(c.dtype()), " (expected float32, float64 or bfloat16)");
  }
}

void sum_rows_accumulate(const Tensor& x, const Tensor& out) {
  int dev = out.device().index;
  int64_t rows = x.size(0), cols = x.size(1);
  dim3 block(kColTile, kRowLanes);
  dim3 grid(static_cast<unsigned>((cols + kColTile - 1) / kColTile));
  auto launch = [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    sum_rows_accumulate_kernel<T, double><<<grid, block, 0, stream(dev)>>>(x.data<T>(), rows, cols, out.data<T>());
    DYBAT_CUDA_LAUNCH_CHECK();
  };
  if (x.dtype() == DType::BFloat16) return launch(type_tag<bf16>{});
  dispatch_float(x.dtype(), "sum_rows_accumulate (cuda)", launch);
}

}  // namespace dybat::cuda
