// Batch normalisation (BatchNorm2d), the reference: plain loops in double (batchnorm.cpp). The
// fast versions are kernels/batchnorm_cpu.cpp and kernels/batchnorm.cu, which also fuse a
// residual add and an activation after the normalisation: out = act(BN(x) + residual); that is
// the composition of these functions with activation.h's.
// Conventions: see conv2d.h (flat double arrays, forward assigns, backward adds).
#pragma once

#include <cstdint>

namespace dybat::ref {

// x is [batch, channels, spatial]: an [N, C, H, W] input has spatial = H * W, an [N, C] one 1.
// Every per-channel buffer below is [channels].
struct BatchNormShape {
  int64_t batch = 1, channels = 1, spatial = 1;
};

// Training: normalises with the batch's own mean and biased variance, writes them (mean and
// invstd = 1 / sqrt(var + eps)) for the backward, and, when running_mean is not null, moves the
// running statistics towards them by `momentum` (the variance unbiased).
void batchnorm_forward_train(const BatchNormShape& s, const double* inp, const double* gamma, const double* beta,
                             double eps, double momentum, double* running_mean, double* running_var, double* out,
                             double* mean, double* invstd);
// Evaluation: normalises with the running statistics (mean = running_mean, var = running_var).
void batchnorm_forward_eval(const BatchNormShape& s, const double* inp, const double* gamma, const double* beta,
                            const double* running_mean, const double* running_var, double eps, double* out);

// Adds the gradients of <dout, out> into dinp, dgamma and dbeta. `mean` and `invstd` are the
// statistics the forward normalised with. With batch statistics (training) they depend on inp
// too; with running statistics (evaluation) they are constants.
void batchnorm_backward(const BatchNormShape& s, bool batch_statistics, const double* dout, const double* inp,
                        const double* gamma, const double* mean, const double* invstd, double* dinp, double* dgamma,
                        double* dbeta);
// invstd[c] = 1 / sqrt(var[c] + eps): what the evaluation forward normalises with.
void batchnorm_invstd(int64_t channels, const double* var, double eps, double* invstd);

}  // namespace dybat::ref
