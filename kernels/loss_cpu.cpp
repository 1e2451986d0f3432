// CPU softmax cross-entropy: one row per iteration, accumulated in double.
#include <algorithm>
#include <cmath>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/loss.h"
#include "kernels/loss_math.h"

namespace dybat::cpu {

namespace {
// Checks every label before any work, naming the first bad one (rows are independent, so the
// check cannot be folded into the parallel loop without losing which label failed first).
void check_labels(const Tensor& labels, int64_t classes) {
  const int64_t* py = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    DYBAT_CHECK(ce_label_valid(py[i], classes), "cross_entropy: label ", py[i], " of sample ", i,
                " is out of range for ", classes, " classes (expected 0 <= label < ", classes, ")");
}

// Row maximum and sum of exp(z - max), in double.
template <class T>
void row_stats(const T* z, int64_t classes, double& m, double& s) {
  m = static_cast<double>(z[0]);
  for (int64_t j = 1; j < classes; ++j) m = std::max(m, static_cast<double>(z[j]));
  s = 0.0;
  for (int64_t j = 0; j < classes; ++j) s += std::exp(static_cast<double>(z[j]) - m);
}
}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, const Tensor& losses) {
  int64_t n = logits.size(0), classes = logits.size(1);
  check_labels(labels, classes);
  const int64_t* py = labels.data<int64_t>();
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pz = logits.data<T>();
    T* pl = losses.data<T>();
#pragma omp parallel for schedule(static) if (n * classes > 32768)
    for (int64_t i = 0; i < n; ++i) {
      const T* z = pz + i * classes;
      double m, s;
      row_stats(z, classes, m, s);
      pl[i] = static_cast<T>(ce_loss<double>(m, s, static_cast<double>(z[py[i]])));
    }
  });
}

void cross_entropy_backward(const Tensor& dlosses, const Tensor& logits, const Tensor& labels, const Tensor& dlogits) {
  int64_t n = logits.size(0), classes = logits.size(1);
  check_labels(labels, classes);
  const int64_t* py = labels.data<int64_t>();
  dispatch_float(logits.dtype(), "cross_entropy backward", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const T* pz = logits.data<T>();
    const T* pdl = dlosses.data<T>();
    T* pd = dlogits.data<T>();
#pragma omp parallel for schedule(static) if (n * classes > 32768)
    for (int64_t i = 0; i < n; ++i) {
      const T* z = pz + i * classes;
      double m, s;
      row_stats(z, classes, m, s);
      double inv_s = 1.0 / s, dl = static_cast<double>(pdl[i]);
      for (int64_t j = 0; j < classes; ++j)
        pd[i * classes + j] = static_cast<T>(ce_grad<double>(static_cast<double>(z[j]), m, inv_s, j == py[i], dl));
    }
  });
}

}  // namespace dybat::cpu
