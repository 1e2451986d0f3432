// Batch normalisation over (N, H, W) per channel, fused with an optional residual add and an
// activation: out = act(BN(x) + residual). With act = None and no residual it is plain
// BatchNorm2d; timm's BatchNormAct2d is act = SiLU/HardSwish/ReLU; a ResNet block's tail
// relu(bn2(conv2(y)) + shortcut) is one call. Fusing saves two full passes over the activations
// in both directions.
//
// Contract
//   x [N, C, H, W] (or [N, C]); gamma, beta, running_mean, running_var [C]; residual undefined or
//   x's shape. All contiguous, same dtype and device. Output fresh, x's shape.
//   Statistics: with use_batch_stats, mean = E[x], var_b = E[(x-mean)^2] (biased) over n = N*H*W
//   and x_hat = (x - mean) / sqrt(var_b + eps); else the running statistics are used.
//   update_running (needs use_batch_stats): running_mean = (1-m) running_mean + m mean,
//   running_var = (1-m) running_var + m var_u with var_u = var_b * n/(n-1) (unbiased); n = 1
//   is an error, as in PyTorch.
//   Saved for backward: x, residual, gamma, beta, the mean and 1/sqrt(var+eps) used.
//   Backward: z = BN(x) + residual is recomputed; dz = dout * act'(z);
//   dbeta += sum dz; dgamma += sum dz x_hat (accumulated); dresidual = dz (assigned);
//   dx = gamma invstd / n (n dz - sum dz - x_hat sum(dz x_hat)) with batch statistics, or
//   dx = gamma invstd dz with running statistics (assigned).
//   Statistics and gradient sums accumulate in double in a fixed order on both devices (CPU: one
//   channel per task; CUDA: per-channel partial sums over fixed slices, combined in order), so
//   results are bit-identical run to run. Per-element math: batchnorm_math.h.
//   Errors: batch statistics over n = 1 value per channel (as PyTorch in training), shapes.
//   Reference: kernels/reference/batchnorm.cpp (composed with reference/activation.cpp for the
//   fused activation). Fast kernels: kernels/batchnorm_cpu.cpp and kernels/batchnorm.cu. Walked
//   through from formula to tests in docs/tutorial-batchnorm.md.
#pragma once

#include "core/tensor.h"
#include "kernels/activation_math.h"

namespace dybat {

class Collective;

struct BatchNormOptions {
  bool use_batch_stats = true;  // false: normalise with the running statistics (eval mode)
  bool update_running = true;   // update running stats from this batch (training)
  double momentum = 0.1;
  double eps = 1e-5;
  Act act = Act::None;
  // Batch statistics over every process of a data-parallel run (kernels/batchnorm_sync.h);
  // null: this process's batch alone.
  const Collective* sync = nullptr;
};

// Differentiable in x, gamma, beta and residual. Updates running_mean/var in place when asked.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, const BatchNormOptions& opt, const Tensor& residual = Tensor());

// Kernel level.
// Batch mean and invstd = 1/sqrt(var_b + eps) per channel into mean, invstd [C]; when
// running_mean is defined, also applies the momentum update (unbiased variance).
void batchnorm_stats(const Tensor& x, double eps, const Tensor& mean, const Tensor& invstd, const Tensor& running_mean,
                     const Tensor& running_var, double momentum);
// invstd = 1/sqrt(var + eps) per channel (the running-statistics path).
void batchnorm_invstd(const Tensor& var, double eps, const Tensor& invstd);
// out = act((x - mean) * invstd * gamma + beta + residual); residual may be undefined.
void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma, const Tensor& beta,
                     const Tensor& residual, Act act, const Tensor& out);
// Gradients as in the contract; batch_stats selects the dx formula. dgamma/dbeta accumulate;
// dx and dresidual are assigned; any of them may be undefined (not needed).
void batchnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, bool batch_stats,
                        const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dresidual);

}  // namespace dybat
