// Stochastic gradient descent with momentum, PyTorch's semantics, over many tensors at once.
//
// For each parameter p with gradient g and momentum buffer b (zeros initially):
//   g = g + weight_decay * p            (when weight_decay != 0)
//   b = momentum * b + g                (dampening 0; on the first step b = g, as PyTorch)
//   g = nesterov ? g + momentum * b : b
//   p = p - lr * g
// Parameters without a gradient are skipped. Buffers start as zeros: then momentum * 0 + g = g,
// so the first step gives b = g exactly as PyTorch's "buffer = clone(grad)", with no step count.
// With momentum 0 the buffers are not used and may be undefined (or the list empty).
// Per-element math: sgd_math.h (shared by the CPU loop and the CUDA kernel).
// On CUDA all tensors are updated by one launch (a multi-tensor kernel over a device-side table
// of pointers). The table is cached by its pointer list and uploaded only when the list changes,
// so a steady training loop makes no host-to-device copy per step. Not differentiable.
// Reference: kernels/reference/sgd.cpp. Fast kernels: kernels/sgd_cpu.cpp and kernels/sgd.cu.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace dybat {

struct SgdOptions {
  double lr = 0.005;
  double momentum = 0.9;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// params[i], grads[i], bufs[i]: same shape, dtype, device, contiguous; every tensor of one call
// shares one dtype and device. grads[i] undefined: params[i] is skipped. Updates params and bufs
// in place (their data, outside autograd).
void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt);
// The same with the learning rate read from `lr`, a one-element float64 tensor on the parameters'
// device (opt.lr is ignored): the CUDA kernel reads it from device memory, so a training step
// captured once in a CUDA graph follows a learning-rate schedule the host writes there.
void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt, const Tensor& lr);

}  // namespace dybat
