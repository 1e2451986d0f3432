// SGD, the reference: PyTorch's torch.optim.SGD with dampening 0. For each parameter p with
// gradient g and momentum buffer b:
//
//   g = g + weight_decay * p                    (weight decay joins the gradient first)
//   b = g on the first step, else momentum * b + g
//   g = g + momentum * b   if nesterov, else  b
//   p = p - lr * g
//
// With momentum 0 there is no buffer and the step is p = p - lr * g.
// (The fast kernels start the buffer at zero instead: momentum * 0 + g is g, the same first step.)
#include "kernels/reference/sgd.h"

namespace dybat::ref {

void sgd_step(const SgdSettings& settings, int64_t n, double* param, const double* grad, double* momentum_buffer,
              bool first_step) {
  for (int64_t i = 0; i < n; ++i) {
    double g = grad[i];
    if (settings.weight_decay != 0.0) g += settings.weight_decay * param[i];
    if (settings.momentum != 0.0) {
      double& b = momentum_buffer[i];
      b = first_step ? g : settings.momentum * b + g;
      g = settings.nesterov ? g + settings.momentum * b : b;
    }
    param[i] -= settings.lr * g;
  }
}

}  // namespace dybat::ref
