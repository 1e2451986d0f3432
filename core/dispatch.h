// Dtype dispatch for kernels: calls a generic lambda with a tag for the C++ type of a runtime
// dtype. Kernels are templates over the scalar type; this picks the instantiation:
//
//   dispatch_float(x.dtype(), "relu", [&](auto tag) {
//     using scalar_t = DYBAT_SCALAR(tag);
//     relu_loop<scalar_t>(...);
//   });
//
// (A function rather than a macro body, so OpenMP pragmas work inside the lambda.)
#pragma once

#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"

namespace dybat {

template <class T>
struct type_tag {
  using type = T;
};
#define DYBAT_SCALAR(tag) typename decltype(tag)::type

// Floating types that CPU kernels support: float32 and float64.
template <class F>
decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f(type_tag<float>{});
    case DType::Float64: return f(type_tag<double>{});
    default: break;
  }
  DYBAT_FAIL(op, ": unsupported dtype ", dtype_name(t), " (expected float32 or float64)");
}

// Every dtype (copies, fills).
template <class F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f(type_tag<float>{});
    case DType::Float64: return f(type_tag<double>{});
    case DType::Int32: return f(type_tag<int32_t>{});
    case DType::Int64: return f(type_tag<int64_t>{});
    case DType::UInt8: return f(type_tag<uint8_t>{});
    case DType::BFloat16: return f(type_tag<bf16>{});
  }
  DYBAT_FAIL(op, ": unknown dtype");
}

namespace detail {
[[noreturn]] void no_cuda(const char* op);
}

// Calls cuda::fn(args...) for a CUDA device and cpu::fn(args...) otherwise (both declared in the
// folder's backend.h, e.g. kernels/backend.h). In a build without the CUDA backend the cuda::
// side is never referenced and a CUDA device raises a clear error.
#if defined(DYBAT_CUDA)
#define DYBAT_DISPATCH_DEVICE(device, fn, ...) \
  ((device).is_cuda() ? ::dybat::cuda::fn(__VA_ARGS__) : ::dybat::cpu::fn(__VA_ARGS__))
#else
#define DYBAT_DISPATCH_DEVICE(device, fn, ...) \
  ((device).is_cuda() ? ::dybat::detail::no_cuda(#fn) : ::dybat::cpu::fn(__VA_ARGS__))
#endif

// Conversions between any two element types (bf16 through float).
template <class To, class From>
DYBAT_HD To convert_scalar(From v) {
  if constexpr (std::is_same_v<From, bf16>) {
    return convert_scalar<To>(v.to_float());
  } else if constexpr (std::is_same_v<To, bf16>) {
    return bf16::from_float(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace dybat
