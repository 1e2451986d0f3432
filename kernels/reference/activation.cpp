// Activation functions, the reference, with sigmoid(x) = 1 / (1 + e^-x):
//
//   name         f(x)                              f'(x), as PyTorch's backward computes it
//   identity     x                                 1
//   relu         max(x, 0)                         1 if x > 0, else 0           (so relu'(0) = 0)
//   relu6        min(max(x, 0), 6)                 1 if 0 < x < 6, else 0
//   sigmoid      sigmoid(x)                        sigmoid(x) (1 - sigmoid(x))
//   silu         x sigmoid(x)                      sigmoid(x) (1 + x (1 - sigmoid(x)))
//   hardsigmoid  relu6(x + 3) / 6                  1/6 if -3 < x < 3, else 0    (open interval)
//   hardswish    x relu6(x + 3) / 6                0 if x < -3, 1 if x > 3, else x/3 + 1/2
//                                                  (closed interval: -0.5 at -3 and 1.5 at +3)
//
// The kinks matter: a ReLU output is full of exact zeros, and PyTorch's choice at each kink is
// what timm's nets train with.
#include "kernels/reference/activation.h"

#include <algorithm>
#include <cmath>

namespace dybat::ref {

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double relu6(double x) { return std::min(std::max(x, 0.0), 6.0); }
}  // namespace

double activation_value(Activation f, double x) {
  switch (f) {
    case Activation::Identity: return x;
    case Activation::ReLU: return x > 0.0 ? x : 0.0;
    case Activation::ReLU6: return relu6(x);
    case Activation::Sigmoid: return sigmoid(x);
    case Activation::SiLU: return x * sigmoid(x);
    case Activation::HardSigmoid: return relu6(x + 3.0) / 6.0;
    case Activation::HardSwish: return x * relu6(x + 3.0) / 6.0;
  }
  return x;
}

double activation_derivative(Activation f, double x) {
  switch (f) {
    case Activation::Identity: return 1.0;
    case Activation::ReLU: return x > 0.0 ? 1.0 : 0.0;
    case Activation::ReLU6: return x > 0.0 && x < 6.0 ? 1.0 : 0.0;
    case Activation::Sigmoid: return sigmoid(x) * (1.0 - sigmoid(x));
    case Activation::SiLU: return sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x)));
    case Activation::HardSigmoid: return x > -3.0 && x < 3.0 ? 1.0 / 6.0 : 0.0;
    case Activation::HardSwish: return x < -3.0 ? 0.0 : (x > 3.0 ? 1.0 : x / 3.0 + 0.5);
  }
  return 1.0;
}

void activation_forward(Activation f, int64_t n, const double* inp, double* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = activation_value(f, inp[i]);
}

void activation_backward(Activation f, int64_t n, const double* dout, const double* inp, double* dinp) {
  for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * activation_derivative(f, inp[i]);
}

}  // namespace dybat::ref
