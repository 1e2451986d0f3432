// Row-major GEMM for the CPU kernels: C = alpha op(A) op(B) + beta C on OpenBLAS.
//
// OpenBLAS is kept single-threaded, and the kernels parallelise with OpenMP alone, so one pool of
// threads does all the work and the two never compete for cores: gemm_1t runs on the calling
// thread (for use inside parallel regions, e.g. one GEMM per thread over its own images);
// gemm_mt splits C into one block of columns (or of rows, when C is tall and narrow) per OpenMP
// thread, each computed by one single-threaded call. Each element of C is computed by one call
// over the full depth, so results are bit-identical run to run for a given thread count.
// With beta == 0, C is written without being read (junk in C is fine).
#pragma once

#include <cstdint>

namespace dybat::cpu {

template <class T>
void gemm_1t(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
             int64_t ldb, T beta, T* c, int64_t ldc);

template <class T>
void gemm_mt(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
             int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace dybat::cpu
