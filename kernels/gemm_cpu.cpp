// Single-threaded and OpenMP-split GEMMs on OpenBLAS (see gemm_cpu.h).
#include "kernels/gemm_cpu.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>

#include "core/error.h"

namespace dybat::cpu {

namespace {

// OpenBLAS's own threads stay off: every call runs on its caller. Done once, before the first GEMM.
void blas_single_threaded() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

int blas_int(int64_t v) {
  DYBAT_CHECK(v <= INT_MAX, "gemm (cpu): a dimension of ", v, " exceeds the BLAS int range");
  return static_cast<int>(std::max<int64_t>(v, 1));
}

void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blas_int(m), blas_int(n),
              blas_int(k), alpha, a, blas_int(lda), b, blas_int(ldb), beta, c, blas_int(ldc));
}
void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
               const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blas_int(m), blas_int(n),
              blas_int(k), alpha, a, blas_int(lda), b, blas_int(ldb), beta, c, blas_int(ldc));
}

// Below this many multiply-adds a GEMM runs on one thread: the split would cost more than it saves.
constexpr int64_t kMinSplitMacs = int64_t(1) << 18;
// Blocks of C are multiples of this many rows or columns (whole register tiles of the kernels).
constexpr int64_t kBlockAlign = 16;

}  // namespace

template <class T>
void gemm_1t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
             int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // an empty sum: C = beta C (0 when beta is 0, whatever C held)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  blas_single_threaded();
  blas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void gemm_mt(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
             int64_t ldb, T beta, T* c, int64_t ldc) {
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads <= 1 || m * n * k < kMinSplitMacs || std::max(m, n) < 2 * kBlockAlign) {
    gemm_1t(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Split the longer side of C; the other operand is shared by every block.
  const bool by_cols = n >= m;
  const int64_t len = by_cols ? n : m;
  const int64_t parts = std::min(threads, (len + kBlockAlign - 1) / kBlockAlign);
  const int64_t block = ((len + parts - 1) / parts + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(parts))
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t lo = p * block, hi = std::min(len, lo + block);
    if (lo >= hi) continue;
    if (by_cols) {
      // Columns [lo, hi) of op(B) and C: B stored [k, n] (or [n, k] when transposed).
      const T* bp = tb ? b + lo * ldb : b + lo;
      gemm_1t(ta, tb, m, hi - lo, k, alpha, a, lda, bp, ldb, beta, c + lo, ldc);
    } else {
      // Rows [lo, hi) of op(A) and C: A stored [m, k] (or [k, m] when transposed).
      const T* ap = ta ? a + lo : a + lo * lda;
      gemm_1t(ta, tb, hi - lo, n, k, alpha, ap, lda, b, ldb, beta, c + lo * ldc, ldc);
    }
  }
}

template void gemm_1t<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                             float, float*, int64_t);
template void gemm_1t<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                              int64_t, double, double*, int64_t);
template void gemm_mt<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                             float, float*, int64_t);
template void gemm_mt<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                              int64_t, double, double*, int64_t);

}  // namespace dybat::cpu
