// CPU elementwise kernels: a contiguous fast path, and broadcasting walked as rows (core/
// strided_cpu.h) whose inner loop reads each operand contiguously or as one broadcast value. The op
// is a template parameter so the inner loops vectorise. Every output element is computed by one
// thread, so results do not depend on the thread count.
#include <algorithm>
#include <type_traits>

#include "core/dispatch.h"
#include "core/strided_cpu.h"
#include "kernels/backend.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_math.h"

namespace dybat::cpu {

namespace {
constexpr int64_t kParallelMin = 32768;  // below this, threads cost more than they save
constexpr int64_t kBlock = 16384;        // long rows are split into blocks of this many elements

template <class F>
void dispatch_op(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add: return f(std::integral_constant<BinaryOp, BinaryOp::Add>{});
    case BinaryOp::Sub: return f(std::integral_constant<BinaryOp, BinaryOp::Sub>{});
    case BinaryOp::Mul: return f(std::integral_constant<BinaryOp, BinaryOp::Mul>{});
    case BinaryOp::Div: return f(std::integral_constant<BinaryOp, BinaryOp::Div>{});
  }
}

// out[i] = a[i sa] op b[i sb] for i < n, with sa, sb each 0 (broadcast) or 1 in the fast cases.
template <BinaryOp OP, class T>
void binary_row(const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = binary_apply(OP, a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const T bv = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = binary_apply(OP, a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const T av = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = binary_apply(OP, av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = binary_apply(OP, a[i * sa], b[i * sb]);
  }
}
}  // namespace

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(out.dtype(), "binary op", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    const int64_t n = out.numel();
    Shape sa = broadcast_strides(a, out.shape()), sb = broadcast_strides(b, out.shape());
    const Shape* st[3] = {&out.strides(), &sa, &sb};
    const StridedRows<3> R = coalesce<3>(out.shape(), st);
    const int64_t inner = R.inner(), blocks = (inner + kBlock - 1) / kBlock, tasks = R.rows() * blocks;
    const int64_t ia = R.inner_stride(1), ib = R.inner_stride(2);
    dispatch_op(op, [&](auto o) {
      constexpr BinaryOp OP = decltype(o)::value;
#pragma omp parallel for schedule(static) if (n > kParallelMin && tasks > 1)
      for (int64_t t = 0; t < tasks; ++t) {
        const int64_t r = t / blocks, lo = (t % blocks) * kBlock, len = std::min(kBlock, inner - lo);
        int64_t off[3];
        R.row_offsets(r, off);
        binary_row<OP>(pa + off[1] + lo * ia, ia, pb + off[2] + lo * ib, ib, po + off[0] + lo, len);
      }
    });
  });
}

void affine_forward(const Tensor& a, double alpha, double beta, const Tensor& out) {
  dispatch_float(out.dtype(), "affine", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pa = a.data<T>();
    T* po = out.data<T>();
    const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    const int64_t n = out.numel();
    const Shape* st[2] = {&out.strides(), &a.strides()};
    const StridedRows<2> R = coalesce<2>(out.shape(), st);
    const int64_t inner = R.inner(), blocks = (inner + kBlock - 1) / kBlock, tasks = R.rows() * blocks;
    const int64_t ia = R.inner_stride(1);
#pragma omp parallel for schedule(static) if (n > kParallelMin && tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t r = t / blocks, lo = (t % blocks) * kBlock, len = std::min(kBlock, inner - lo);
      int64_t off[2];
      R.row_offsets(r, off);
      const T* s = pa + off[1] + lo * ia;
      T* d = po + off[0] + lo;
      if (ia == 1)
        for (int64_t i = 0; i < len; ++i) d[i] = al * s[i] + be;
      else
        for (int64_t i = 0; i < len; ++i) d[i] = al * s[i * ia] + be;
    }
  });
}

}  // namespace dybat::cpu
