// Per-element math of every activation, written once for the CPU loops and the CUDA kernels.
//
// Derivatives follow PyTorch exactly, including at the kinks (see NETS.md section 1):
//   relu'(0) = 0;  relu6'(0) = relu6'(6) = 0;  hardsigmoid'(+-3) = 0 (open interval);
//   hardswish'(-3) = -0.5 and hardswish'(3) = 1.5 (closed interval, x/3 + 0.5);
//   sigmoid' computed from the output, s(1-s); silu' = s(1 + x(1-s)).
// hardswish and hardsigmoid divide by 6 (the CPU convention) rather than multiplying by 1/6.
#pragma once

#include <cmath>

#include "core/hd.h"

namespace dybat {

enum class Act : int { None = 0, ReLU, ReLU6, Sigmoid, SiLU, HardSigmoid, HardSwish };

const char* act_name(Act a);

template <class T>
DYBAT_HD T act_sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
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
