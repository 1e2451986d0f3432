// Per-element math of every activation, written once for the CPU loops and the CUDA kernels.
//
// Derivatives follow PyTorch exactly, including at the kinks (see docs/nets.md section 1):
//   relu'(0) = 0;  relu6'(0) = relu6'(6) = 0;  hardsigmoid'(+-3) = 0 (open interval);
//   hardswish'(-3) = -0.5 and hardswish'(3) = 1.5 (closed interval, x/3 + 0.5);
//   sigmoid' computed from the output, s(1-s); silu' = s(1 + x(1-s)).
// hardswish and hardsigmoid divide by 6 (the CPU convention) rather than multiplying by 1/6.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/hd.h"

namespace dybat {

enum class Act : int { None = 0, ReLU, ReLU6, Sigmoid, SiLU, HardSigmoid, HardSwish };

const char* act_name(Act a);

// exp(x) in float arithmetic for the CPU loops: e^x = 2^n e^r with n = round(x / ln 2) and
// r = x - n ln 2 (|r| <= ln2 / 2, ln 2 in two parts), e^r by its Taylor polynomial of degree 7
// (truncation below 1e-8 relative); within 2 ulp of the exact value. Plain arithmetic, so loops
// that call it vectorise (glibc's expf does not). exp(x) = +inf above 88.72 and 0 below -87.33
// (results that would be subnormal flush to 0); NaN stays NaN.
inline float host_expf(float x) {
  const float xc = x == x ? (x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x)) : 0.0f;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float nf = (xc * 1.44269504f + shifter) - shifter;
  const float r = (xc - nf * 0.693359375f) - nf * -2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n for n in [-126, 128]: 2^128 is not a float, so n = 128 scales by 2^127 and then by 2.
  const float n_lo = nf > 127.0f ? 127.0f : nf;
  const int32_t bits = (static_cast<int32_t>(n_lo) + 127) * (1 << 23);
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  float y = p * scale * (nf > 127.0f ? 2.0f : 1.0f);
  y = x > 88.72283f ? HUGE_VALF : y;
  y = x < -87.33654f ? 0.0f : y;
  return x == x ? y : x;
}

// exp as the activations use it: CUDA's exp on the GPU; on the CPU host_expf for float and
// std::exp for double.
template <class T>
DYBAT_HD T act_exp(T x) {
#if defined(__CUDA_ARCH__)
  return exp(x);
#else
  if constexpr (std::is_same_v<T, float>) {
    return host_expf(x);
  } else {
    return std::exp(x);
  }
#endif
}

template <class T>
DYBAT_HD T act_sigmoid(T x) {
  return T(1) / (T(1) + act_exp(-x));
}

template <class T>
DYBAT_HD T act_forward(Act a, T x) {
  switch (a) {
    case Act::None: return x;
    case Act::ReLU: return x > T(0) ? x : T(0);
    case Act::ReLU6: return x <= T(0) ? T(0) : (x >= T(6) ? T(6) : x);
    case Act::Sigmoid: return act_sigmoid(x);
    case Act::SiLU: return x * act_sigmoid(x);
    case Act::HardSigmoid: {
      T r = x + T(3);
      r = r <= T(0) ? T(0) : (r >= T(6) ? T(6) : r);
      return r / T(6);
    }
    case Act::HardSwish: {
      T r = x + T(3);
      r = r <= T(0) ? T(0) : (r >= T(6) ? T(6) : r);
      return x * r / T(6);
    }
  }
  return x;
}

// d act / dx at input x (output y = act_forward(a, x) is passed too, for sigmoid's form).
template <class T>
DYBAT_HD T act_derivative(Act a, T x, T y) {
  switch (a) {
    case Act::None: return T(1);
    case Act::ReLU: return x > T(0) ? T(1) : T(0);
    case Act::ReLU6: return (x > T(0) && x < T(6)) ? T(1) : T(0);
    case Act::Sigmoid: return y * (T(1) - y);
    case Act::SiLU: {
      T s = act_sigmoid(x);
      return s * (T(1) + x * (T(1) - s));
    }
    case Act::HardSigmoid: return (x > T(-3) && x < T(3)) ? T(1) / T(6) : T(0);
    case Act::HardSwish: return x < T(-3) ? T(0) : (x > T(3) ? T(1) : x / T(3) + T(0.5));
  }
  return T(1);
}

}  // namespace dybat
