// Batch normalisation, the reference. Per channel c, over its n = batch * spatial values x:
//
//   mean   = sum x / n
//   var    = sum (x - mean)^2 / n                       (biased: what the output uses)
//   invstd = 1 / sqrt(var + eps)
//   x_hat  = (x - mean) * invstd
//   out    = x_hat * gamma[c] + beta[c]
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)   (unbiased)
//
// Evaluation uses running_mean and running_var in place of mean and var and updates nothing.
//
// Backward, with g = dout. The parameters: dbeta = sum g, dgamma = sum g * x_hat. The input,
// with batch statistics, where mean and var also move with x:
//   dx = gamma * invstd / n * (n * g - sum g - x_hat * sum (g * x_hat))
// and with running statistics, which are constants: dx = gamma * invstd * g.
#include "kernels/reference/batchnorm.h"

#include <cmath>
#include <vector>

namespace dybat::ref {

namespace {

// Index of value i (i < spatial) of image b in channel c of x [batch, channels, spatial].
int64_t at(const BatchNormShape& s, int64_t b, int64_t c, int64_t i) { return (b * s.channels + c) * s.spatial + i; }

// out = x_hat * gamma + beta with x_hat = (x - mean) * invstd, channel by channel.
void normalise(const BatchNormShape& s, const double* inp, const double* gamma, const double* beta, const double* mean,
               const double* invstd, double* out) {
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t c = 0; c < s.channels; ++c)
      for (int64_t i = 0; i < s.spatial; ++i) {
        const int64_t k = at(s, b, c, i);
        const double x_hat = (inp[k] - mean[c]) * invstd[c];
        out[k] = x_hat * gamma[c] + beta[c];
      }
}

}  // namespace

void batchnorm_forward_train(const BatchNormShape& s, const double* inp, const double* gamma, const double* beta,
                             double eps, double momentum, double* running_mean, double* running_var, double* out,
                             double* mean, double* invstd) {
  const double n = static_cast<double>(s.batch * s.spatial);
  for (int64_t c = 0; c < s.channels; ++c) {
    double sum = 0.0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t i = 0; i < s.spatial; ++i) sum += inp[at(s, b, c, i)];
    mean[c] = sum / n;
    double squares = 0.0;  // sum of squared deviations from the mean
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t i = 0; i < s.spatial; ++i) {
        const double deviation = inp[at(s, b, c, i)] - mean[c];
        squares += deviation * deviation;
      }
    const double var = squares / n;
    invstd[c] = 1.0 / std::sqrt(var + eps);
    if (running_mean) {
      running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean[c];
      running_var[c] = (1.0 - momentum) * running_var[c] + momentum * squares / (n - 1.0);
    }
  }
  normalise(s, inp, gamma, beta, mean, invstd, out);
}

void batchnorm_invstd(int64_t channels, const double* var, double eps, double* invstd) {
  for (int64_t c = 0; c < channels; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + eps);
}

void batchnorm_forward_eval(const BatchNormShape& s, const double* inp, const double* gamma, const double* beta,
                            const double* running_mean, const double* running_var, double eps, double* out) {
  std::vector<double> invstd(static_cast<size_t>(s.channels));  // [channels]
  batchnorm_invstd(s.channels, running_var, eps, invstd.data());
  normalise(s, inp, gamma, beta, running_mean, invstd.data(), out);
}

void batchnorm_backward(const BatchNormShape& s, bool batch_statistics, const double* dout, const double* inp,
                        const double* gamma, const double* mean, const double* invstd, double* dinp, double* dgamma,
                        double* dbeta) {
  const double n = static_cast<double>(s.batch * s.spatial);
  for (int64_t c = 0; c < s.channels; ++c) {
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t i = 0; i < s.spatial; ++i) {
        const int64_t k = at(s, b, c, i);
        sum_g += dout[k];
        sum_g_xhat += dout[k] * (inp[k] - mean[c]) * invstd[c];
      }
    dbeta[c] += sum_g;
    dgamma[c] += sum_g_xhat;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t i = 0; i < s.spatial; ++i) {
        const int64_t k = at(s, b, c, i);
        const double x_hat = (inp[k] - mean[c]) * invstd[c];
        if (batch_statistics)
          dinp[k] += gamma[c] * invstd[c] / n * (n * dout[k] - sum_g - x_hat * sum_g_xhat);
        else
          dinp[k] += gamma[c] * invstd[c] * dout[k];
      }
  }
}

}  // namespace dybat::ref
