// Activation functions as ops: relu, relu6, sigmoid, silu, hardsigmoid, hardswish.
//
// Contract
//   x: any shape, contiguous or not (made contiguous). out: same shape, fresh.
//   Saved for backward: the input x (and the output for sigmoid). dx = dout * act'(x), assigned.
//   Reference: kernels/reference/activation.cpp. Fast kernels: kernels/activation_cpu.cpp and
//   kernels/activation.cu, with the per-element math they share in kernels/activation_math.h.
#pragma once

#include "core/tensor.h"
#include "kernels/activation_math.h"

namespace dybat {

// Differentiable.
Tensor activation(const Tensor& x, Act act);
inline Tensor relu(const Tensor& x) { return activation(x, Act::ReLU); }
inline Tensor relu6(const Tensor& x) { return activation(x, Act::ReLU6); }
inline Tensor sigmoid(const Tensor& x) { return activation(x, Act::Sigmoid); }
inline Tensor silu(const Tensor& x) { return activation(x, Act::SiLU); }
inline Tensor hardsigmoid(const Tensor& x) { return activation(x, Act::HardSigmoid); }
inline Tensor hardswish(const Tensor& x) { return activation(x, Act::HardSwish); }

// Kernel level (contiguous tensors of one shape): out = act(x); dx = dout * act'(x) (assigned).
void activation_forward(Act act, const Tensor& x, const Tensor& out);
void activation_backward(Act act, const Tensor& dout, const Tensor& x, const Tensor& out, const Tensor& dx);

}  // namespace dybat
