// Element types a Tensor can hold, their sizes and names, and the bfloat16 storage type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/hd.h"

namespace dybat {

enum class DType : uint8_t { Float32, Float64, Int32, Int64, UInt8, BFloat16 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);       // "float32", "float64", ...
DType dtype_from_name(const std::string& name);  // throws on an unknown name
inline bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::BFloat16;
}

// bfloat16: the upper 16 bits of an IEEE float32. Conversion rounds to nearest, ties to even,
// and keeps NaN a NaN (same rule as PyTorch's c10::BFloat16).
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  DYBAT_HD static bf16 from_bits(uint16_t b) {
    bf16 r;
    r.bits = b;
    return r;
  }
  DYBAT_HD static bf16 from_float(float f) {
    uint32_t u;
#if defined(__CUDA_ARCH__)
    u = __float_as_uint(f);
#else
    std::memcpy(&u, &f, 4);
#endif
    if ((u & 0x7fffffffu) > 0x7f800000u) return from_bits(0x7fc0);  // NaN
    uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
    return from_bits(static_cast<uint16_t>((u + rounding_bias) >> 16));
  }
  DYBAT_HD float to_float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
  }
};

// Maps a C++ type to its DType (used by typed accessors to check the tensor's dtype).
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::BFloat16; };

}  // namespace dybat
