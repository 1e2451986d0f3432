// Per-element math of the fused batch norm (out = act(BN(x) + residual)), shared by the CPU loops
// and the CUDA kernels, so the backward recomputes exactly the pre-activation the forward saw
// (an activation kink is decided on the same z in both directions).
#pragma once

#include <cmath>

#include "core/hd.h"
#include "kernels/activation_math.h"

namespace dybat {

// x_hat = (x - mean) invstd.
template <class T>
DYBAT_HD T bn_xhat(T x, T mean, T invstd) {
  return (x - mean) * invstd;
}

// The pre-activation z = x_hat gamma + beta + residual (residual 0 when absent).
template <class T>
DYBAT_HD T bn_preact(T xhat, T gamma, T beta, T residual) {
  return xhat * gamma + beta + residual;
}

// dz = dout act'(z): the gradient reaching BN's output and the residual.
template <class T>
DYBAT_HD T bn_dz(Act act, T dout, T z) {
  return act == Act::None ? dout : dout * act_derivative(act, z, act_forward(act, z));
}

// dx from dz. Batch statistics: gamma invstd (dz - mean(dz) - x_hat mean(dz x_hat)), where the
// two means are over the channel's n values; running statistics: gamma invstd dz.
template <class T>
DYBAT_HD T bn_dx(T dz, T xhat, T gamma_invstd, T mean_dz, T mean_dz_xhat, bool batch_stats) {
  return batch_stats ? gamma_invstd * (dz - mean_dz - xhat * mean_dz_xhat) : gamma_invstd * dz;
}

// Running-statistics update, PyTorch's order: r = m * batch + (1 - m) * r, the variance unbiased.
DYBAT_HD double bn_running_update(double running, double batch_value, double momentum) {
  return momentum * batch_value + (1.0 - momentum) * running;
}

DYBAT_HD double bn_invstd(double var, double eps) { return 1.0 / sqrt(var + eps); }

}  // namespace dybat
