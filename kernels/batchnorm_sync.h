// Synchronised batch normalisation: the fused BatchNorm of kernels/batchnorm.h with its batch
// statistics taken over the batches of every process of a data-parallel run, through a
// Collective (core/collective.h), so N processes with B/N samples each normalise exactly as one
// process with the whole batch of B would (PyTorch's SyncBatchNorm).
//
// Math, per channel, with n_p values on process p and n = sum_p n_p:
//   forward   S1 = sum_p sum x                     all-reduced together with n
//             mean = S1 / n
//             S2 = sum_p sum (x - mean)^2          all-reduced (two passes, as the one-process
//                                                  kernel: no E[x^2] - E[x]^2 cancellation)
//             invstd = 1 / sqrt(S2 / n + eps); running_var takes S2 / (n - 1) (unbiased)
//   backward  dz = dout act'(z) (z recomputed as in the forward); the local sums of dz and of
//             dz x_hat are added into dbeta and dgamma (parameter gradients: the data-parallel
//             gradient reduction sums them over the processes like every other parameter
//             gradient); the same two sums, all-reduced to S_dz and S_dzx, give
//             dx = gamma invstd (dz - S_dz / n - x_hat S_dzx / n).
// So a layer makes three all-reduces per step: [C + 1] and [C] float64 in the forward, [2C]
// float64 in the backward. Sums are in double in a fixed order on both devices (CPU: one channel
// per task in sample order; CUDA: one block per channel, a fixed tree), so results are
// bit-identical run to run. With a Collective of size 1 the results are those of batch_norm
// (within rounding: the sums are taken in another order).
#pragma once

#include "core/collective.h"
#include "core/tensor.h"
#include "kernels/batchnorm.h"

namespace dybat {

// batch_norm (kernels/batchnorm.h) with batch statistics over every process of `sync`;
// opt.use_batch_stats must be set (the running-statistics path needs no communication).
// Differentiable in x, gamma, beta and residual, like batch_norm.
Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                       const Tensor& running_var, const BatchNormOptions& opt, const Collective& sync,
                       const Tensor& residual = Tensor());

// Kernel level. x [N, C, H, W] or [N, C] contiguous; sums, dev and gsums float64 contiguous.
// sums [C + 1] = per-channel sum of x, then the values per channel (n).
void batchnorm_sums(const Tensor& x, const Tensor& sums);
// dev [C] = per-channel sum of (x - sums[c] / sums[C])^2.
void batchnorm_dev_sums(const Tensor& x, const Tensor& sums, const Tensor& dev);
// mean = sums[c] / n, invstd = 1 / sqrt(dev[c] / n + eps) (x's dtype, [C]) with n = sums[C];
// running statistics (when defined) take the momentum update with dev[c] / (n - 1).
void batchnorm_sync_stats(const Tensor& sums, const Tensor& dev, double eps, const Tensor& mean, const Tensor& invstd,
                          const Tensor& running_mean, const Tensor& running_var, double momentum);
// dz (x's shape, assigned) = dout act'(z); gsums [2C] = per-channel sum of dz, then of
// dz x_hat; dgamma += sum dz x_hat and dbeta += sum dz when defined.
void batchnorm_grad_sums(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, const Tensor& dz,
                         const Tensor& gsums, const Tensor& dgamma, const Tensor& dbeta);
// dx = gamma invstd (dz - gsums[c] / n - x_hat gsums[C + c] / n) with n = sums[C] (assigned; dx
// may be dz itself).
void batchnorm_sync_dx(const Tensor& dz, const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                       const Tensor& gsums, const Tensor& sums, const Tensor& dx);

}  // namespace dybat
