// Softmax cross-entropy, the reference. For one sample with logits z [classes] and label y:
//
//   loss = log(sum_j e^z_j) - z_y = m + log(sum_j e^(z_j - m)) - z_y,   m = max_j z_j
//
// The second form is the same number computed without overflow: every exponent is <= 0, so
// logits such as [1000, 0, -1000] give 1000, not inf. The gradient is the softmax minus the
// one-hot label: dloss/dz_j = e^(z_j - m) / sum_k e^(z_k - m) - [j = y].
// The batch loss of a training step is the mean of these per-sample losses.
#include "kernels/reference/loss.h"

#include <algorithm>
#include <cmath>

namespace dybat::ref {

namespace {
// The row's largest logit m and sum_j e^(z_j - m).
void row_max_and_sum(int64_t classes, const double* z, double& m, double& sum) {
  m = *std::max_element(z, z + classes);
  sum = 0.0;
  for (int64_t j = 0; j < classes; ++j) sum += std::exp(z[j] - m);
}
}  // namespace

void cross_entropy_forward(int64_t batch, int64_t classes, const double* logits, const int64_t* labels,
                           double* losses) {
  for (int64_t n = 0; n < batch; ++n) {
    const double* z = logits + n * classes;  // [classes]
    double m, sum;
    row_max_and_sum(classes, z, m, sum);
    losses[n] = m + std::log(sum) - z[labels[n]];
  }
}

void cross_entropy_backward(int64_t batch, int64_t classes, const double* dlosses, const double* logits,
                            const int64_t* labels, double* dlogits) {
  for (int64_t n = 0; n < batch; ++n) {
    const double* z = logits + n * classes;  // [classes]
    double m, sum;
    row_max_and_sum(classes, z, m, sum);
    for (int64_t j = 0; j < classes; ++j) {
      const double softmax = std::exp(z[j] - m) / sum;
      dlogits[n * classes + j] += dlosses[n] * (softmax - (j == labels[n] ? 1.0 : 0.0));
    }
  }
}

}  // namespace dybat::ref
