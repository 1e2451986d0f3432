// CPU matrix products on OpenBLAS (row-major cblas calls) and the column sums of a bias gradient.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/dispatch.h"
#include "kernels/matmul.h"

namespace dybat::cpu {

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  int64_t m = c.size(0), n = c.size(1);
  int64_t k = trans_a ? a.size(0) : a.size(1);
  // Leading dimensions are the row lengths of the stored (untransposed) matrices; BLAS wants >= 1.
  auto ld = [](const Tensor& t) { return static_cast<int>(std::max<int64_t>(1, t.size(1))); };
  dispatch_float(c.dtype(), "gemm", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    T* pc = c.data<T>();
    if (k == 0) {  // an empty sum: C = beta C (and 0 when beta is 0, whatever C held)
      for (int64_t i = 0; i < m * n; ++i) pc[i] = beta == 0.0 ? T(0) : static_cast<T>(beta) * pc[i];
      return;
    }
    // OpenBLAS writes C without reading it when beta is 0, so a junk-filled C is fine.
    CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                  static_cast<float>(alpha), a.data<float>(), ld(a), b.data<float>(), ld(b), static_cast<float>(beta),
                  pc, ld(c));
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
                  a.data<double>(), ld(a), b.data<double>(), ld(b), beta, pc, ld(c));
    }
  });
}

void sum_rows_accumulate(const Tensor& x, const Tensor& out) {
  int64_t rows = x.size(0), cols = x.size(1);
  // Columns are split into blocks, one per task; each block walks the rows in order, adding a
  // row's slice into a double accumulator, so reads stay sequential and the order is fixed.
  constexpr int64_t kCols = 256;
  int64_t nblocks = (cols + kCols - 1) / kCols;
  dispatch_float(x.dtype(), "sum_rows_accumulate", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for schedule(static) if (rows * cols > 32768 && nblocks > 1)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      int64_t c0 = blk * kCols, c1 = std::min(cols, c0 + kCols);
      double acc[kCols] = {};
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = px + r * cols;
        for (int64_t j = c0; j < c1; ++j) acc[j - c0] += static_cast<double>(row[j]);
      }
      for (int64_t j = c0; j < c1; ++j) po[j] = static_cast<T>(static_cast<double>(po[j]) + acc[j - c0]);
    }
  });
}

}  // namespace dybat::cpu
