// CPU matrix products on OpenBLAS (through gemm_cpu.h) and the column sums of a bias gradient.
#include <algorithm>
#include <vector>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/gemm_cpu.h"
#include "kernels/matmul.h"

namespace dybat::cpu {

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  int64_t m = c.size(0), n = c.size(1);
  int64_t k = trans_a ? a.size(0) : a.size(1);
  // Leading dimensions are the row lengths of the stored (untransposed) matrices; BLAS wants >= 1.
  auto ld = [](const Tensor& t) { return std::max<int64_t>(1, t.size(1)); };
  dispatch_float(c.dtype(), "gemm", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    // gemm_mt: split over the OpenMP threads, OpenBLAS single-threaded (see gemm_cpu.h). With
    // beta 0 C is written without being read, so a junk-filled C is fine; k = 0 gives beta C.
    gemm_mt<T>(trans_a, trans_b, m, n, k, static_cast<T>(alpha), a.data<T>(), ld(a), b.data<T>(), ld(b),
               static_cast<T>(beta), c.data<T>(), ld(c));
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
