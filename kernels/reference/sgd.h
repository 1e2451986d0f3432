// Stochastic gradient descent with momentum, the reference: torch.optim.SGD's update in a plain
// loop in double (sgd.cpp). The fast versions are kernels/sgd_cpu.cpp and kernels/sgd.cu (their
// shared per-element math: kernels/sgd_math.h). Conventions: see conv2d.h.
#pragma once

#include <cstdint>

namespace dybat::ref {

struct SgdSettings {
  double lr = 0.005;
  double momentum = 0.9;  // 0: plain SGD, no buffer
  double weight_decay = 0.0;
  bool nesterov = false;
};

// One update of n parameters from their gradients. momentum_buffer [n] is read and written when
// momentum != 0 (it may be null otherwise); first_step says this is the buffer's first update.
void sgd_step(const SgdSettings& settings, int64_t n, double* param, const double* grad, double* momentum_buffer,
              bool first_step);

}  // namespace dybat::ref
