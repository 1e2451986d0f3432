// CPU copies, fills and accumulation: plain strided loops, OpenMP over elements (each element is
// written by one thread, so results do not depend on the thread count).
#include <omp.h>

#include <cstring>

#include "core/backend.h"
#include "core/copy.h"
#include "core/dispatch.h"
#include "core/strided_cpu.h"

namespace dybat::cpu {

namespace {
// Below this many elements a loop runs on one thread.
constexpr int64_t kParallelMin = 65536;

template <class To, class From>
void copy_typed(const Tensor& dst, const Tensor& src) {
  To* d = static_cast<To*>(dst.data_ptr());
  const From* s = static_cast<const From*>(src.data_ptr());
  int64_t n = dst.numel();
  if (dst.is_contiguous() && src.is_contiguous()) {
    if constexpr (std::is_same_v<To, From>) {
      // Large copies in one block per thread (a copy has no order to keep).
      const int64_t blocks = n > kParallelMin ? omp_get_max_threads() : 1;
#pragma omp parallel for schedule(static) if (blocks > 1)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t lo = b * n / blocks, hi = (b + 1) * n / blocks;
        std::memcpy(d + lo, s + lo, static_cast<size_t>(hi - lo) * sizeof(To));
      }
    } else {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) d[i] = convert_scalar<To>(s[i]);
    }
    return;
  }
  // Strided: walked as rows (core/strided_cpu.h), the inner loop contiguous or at a fixed stride.
  const Shape* st[2] = {&dst.strides(), &src.strides()};
  const StridedRows<2> R = coalesce<2>(dst.shape(), st);
  const int64_t inner = R.inner(), rows = R.rows(), sd = R.inner_stride(0), ss = R.inner_stride(1);
#pragma omp parallel for schedule(static) if (n > kParallelMin && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off[2];
    R.row_offsets(r, off);
    To* dr = d + off[0];
    const From* sr = s + off[1];
    if (sd == 1 && ss == 1)
      for (int64_t i = 0; i < inner; ++i) dr[i] = convert_scalar<To>(sr[i]);
    else
      for (int64_t i = 0; i < inner; ++i) dr[i * sd] = convert_scalar<To>(sr[i * ss]);
  }
}
}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  dispatch_all(dst.dtype(), "copy", [&](auto to_tag) {
    using to_t = DYBAT_SCALAR(to_tag);
    dispatch_all(src.dtype(), "copy", [&](auto from_tag) {
      using scalar_t = DYBAT_SCALAR(from_tag); copy_typed<to_t, scalar_t>(dst, src); });
  });
}

void fill_into(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using scalar_t = DYBAT_SCALAR(tag);
    scalar_t v = convert_scalar<scalar_t>(value);
    scalar_t* d = static_cast<scalar_t*>(dst.data_ptr());
    int64_t n = dst.numel();
    if (dst.is_contiguous()) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) d[i] = v;
      return;
    }
    const Shape* st[1] = {&dst.strides()};
    auto ix = make_indexer<1>(dst.shape(), st);
    for (int64_t i = 0; i < n; ++i) {
      int64_t off[1];
      ix.offsets(i, off);
      d[off[0]] = v;
    }
  });
}

void add_into(const Tensor& dst, const Tensor& src) {
  dispatch_float(dst.dtype(), "add_into", [&](auto tag) {
    using scalar_t = DYBAT_SCALAR(tag);
    scalar_t* d = static_cast<scalar_t*>(dst.data_ptr());
    const scalar_t* s = static_cast<const scalar_t*>(src.data_ptr());
    int64_t n = dst.numel();
    if (dst.is_contiguous() && src.is_contiguous()) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) d[i] += s[i];
      return;
    }
    const Shape* st[2] = {&dst.strides(), &src.strides()};
    auto ix = make_indexer<2>(dst.shape(), st);
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      int64_t off[2];
      ix.offsets(i, off);
      d[off[0]] += s[off[1]];
    }
  });
}

void advance_counter(const Tensor& counter) { counter.data<int64_t>()[0] += 1; }

}  // namespace dybat::cpu
