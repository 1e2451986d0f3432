// Per-element math of the SGD update, shared by the CPU loop and the CUDA multi-tensor kernel.
// The order of operations follows PyTorch's torch.optim.SGD (dampening 0), in the tensor's type.
#pragma once

#include "core/hd.h"

namespace dybat {

template <class T>
struct SgdScalars {
  T lr, momentum, weight_decay;
  bool nesterov;
  bool use_buf;  // momentum != 0
};

// Updates one parameter element p with gradient g and momentum buffer element *b.
template <class T>
DYBAT_HD void sgd_step(T& p, T g, T* b, const SgdScalars<T>& s) {
  if (s.weight_decay != T(0)) g = g + s.weight_decay * p;
  if (s.use_buf) {
    T buf = s.momentum * *b + g;  // first step: *b == 0, so buf == g
    *b = buf;
    g = s.nesterov ? g + s.momentum * buf : buf;
  }
  p = p + (-s.lr) * g;
}

}  // namespace dybat
