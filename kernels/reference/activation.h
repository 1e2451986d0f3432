// Activation functions, the reference: each formula and its derivative as PyTorch defines them,
// kinks included, in double (activation.cpp). The fast versions are kernels/activation_cpu.cpp and
// kernels/activation.cu (their shared per-element math: kernels/activation_math.h).
// Conventions: see conv2d.h (flat double arrays, forward assigns, backward adds).
#pragma once

#include <cstdint>

namespace dybat::ref {

enum class Activation { Identity, ReLU, ReLU6, Sigmoid, SiLU, HardSigmoid, HardSwish };

// f(x) and f'(x) for one value.
double activation_value(Activation f, double x);
double activation_derivative(Activation f, double x);

// out[i] = f(inp[i]) for i < n.
void activation_forward(Activation f, int64_t n, const double* inp, double* out);
// dinp[i] += dout[i] * f'(inp[i]) for i < n.
void activation_backward(Activation f, int64_t n, const double* dout, const double* inp, double* dinp);

}  // namespace dybat::ref
