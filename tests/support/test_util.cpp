// Shared helpers for the test suite (see test_util.h).
#include "support/test_util.h"

#include <algorithm>

namespace dybat::test {

Tensor rand(const Shape& shape, uint64_t seed, double lo, double hi, bool requires_grad, DType dtype) {
  Generator g(seed);
  Tensor t = Tensor::uniform(shape, lo, hi, g, dtype);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0.0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

double max_abs(const Tensor& a) {
  double m = 0.0;
  for (double v : a.to_vector<double>()) m = std::max(m, std::fabs(v));
  return m;
}

}  // namespace dybat::test
