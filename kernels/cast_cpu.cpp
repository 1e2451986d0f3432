// CPU casts to and from bfloat16: elementwise loops over the shared rounding code (core/dtype.h).
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/cast.h"

namespace dybat::cpu {

namespace {
constexpr int64_t kParallelMin = 65536;
}

void to_bf16(const Tensor& x, const Tensor& out) {
  dispatch_float(x.dtype(), "to_bf16", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* px = x.data<T>();
    bf16* po = out.data<bf16>();
    const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = convert_scalar<bf16>(px[i]);
  });
}

void from_bf16(const Tensor& x, const Tensor& out) {
  dispatch_float(out.dtype(), "from_bf16", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const bf16* px = x.data<bf16>();
    T* po = out.data<T>();
    const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = convert_scalar<T>(px[i]);
  });
}

}  // namespace dybat::cpu
