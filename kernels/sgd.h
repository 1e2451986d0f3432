// Stochastic gradient descent with momentum, PyTorch's semantics, over many tensors at once.
//
// For each parameter p with gradient g and momentum buffer b (zeros initially):
//   g = g + weight_decay * p            (when weight_decay != 0)
//   b = momentum * b + g                (dampening 0; on the first step b = g, as PyTorch)
//   g = nesterov ? g + momentum * b : b
//   p = p - lr * g
// Parameters without a gradient are skipped. On CUDA all tensors are updated by one launch
// (a multi-tensor kernel over a device-side table of pointers). Not differentiable.
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

// params[i], grads[i], bufs[i]: same shape, dtype, device, contiguous. Updates params and bufs.
void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt);

namespace cpu {
void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt);
}
namespace cuda {
void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt);
}

}  // namespace dybat
