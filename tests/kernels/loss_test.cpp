// Softmax cross-entropy: the published check values, the kernels against the reference
// (kernels/reference/loss.h), stability, label checks, gradients.
#include "kernels/loss.h"

#include <cmath>

#include "core/autograd.h"
#include "kernels/reduce.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {
Tensor check_logits(DType dt) {
  return Tensor::from_vector<double>({2, 1, 0.1, 0.5, 2.5, -1, 1000, 0, -1000, -3, -3, -3}, {4, 3}).to(dt);
}
Tensor check_labels() { return Tensor::from_vector<int64_t>({0, 2, 1, 1}, {4}); }
}  // namespace

TEST(CrossEntropy, ReferenceValuesFloat32) {
  // docs/data-and-metrics.md section 4 (float32 values).
  Tensor l = cross_entropy(check_logits(DType::Float32), check_labels());
  auto v = l.to_vector<float>();
  ASSERT_EQ(v.size(), 4u);
  EXPECT_NEAR(v[0], 0.41703f, 1e-5);
  EXPECT_FLOAT_EQ(v[1], 3.6531782f);
  EXPECT_FLOAT_EQ(v[2], 1000.0f);
  EXPECT_FLOAT_EQ(v[3], 1.0986123f);
  EXPECT_FLOAT_EQ(static_cast<float>(mean(l).item()), 251.29222f);
}

TEST(CrossEntropy, ReferenceValuesFloat64) {
  auto v = cross_entropy(check_logits(DType::Float64), check_labels()).to_vector<double>();
  double lse0 = std::log(std::exp(2.0) + std::exp(1.0) + std::exp(0.1));
  EXPECT_NEAR(v[0], lse0 - 2.0, 1e-15);
  EXPECT_DOUBLE_EQ(v[2], 1000.0);
  EXPECT_NEAR(v[3], std::log(3.0), 1e-15);
}

TEST(CrossEntropy, GradientIsSoftmaxMinusOneHot) {
  Tensor z = check_logits(DType::Float64).set_requires_grad(true);
  mean(cross_entropy(z, check_labels())).backward();
  auto g = z.grad().to_vector<double>();
  // Row 2 ([1000, 0, -1000], label 1): softmax is (1, e^-1000, 0) -> gradient (1, -1, 0) / 4, finite.
  EXPECT_DOUBLE_EQ(g[6], 0.25);
  EXPECT_DOUBLE_EQ(g[7], -0.25);
  EXPECT_DOUBLE_EQ(g[8], 0.0);
  // Row 3 (uniform, label 1): (1/3, -2/3, 1/3) / 4.
  EXPECT_NEAR(g[9], 1.0 / 12, 1e-16);
  EXPECT_NEAR(g[10], -2.0 / 12, 1e-16);
  EXPECT_NEAR(g[11], 1.0 / 12, 1e-16);
  for (double x : g) EXPECT_TRUE(std::isfinite(x));
}

TEST(CrossEntropy, Gradcheck) {
  Tensor z = rand({5, 7}, 1, -3, 3, true);
  Tensor y = Tensor::from_vector<int64_t>({0, 6, 3, 3, 1}, {5});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], y); }, {z});
  // One class (loss identically 0) and one sample.
  Tensor z1 = rand({3, 1}, 2, -3, 3, true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return cross_entropy(in[0], Tensor::zeros({3}, DType::Int64)); },
                   {z1});
  Tensor z2 = rand({1, 4}, 3, -3, 3, true);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) { return cross_entropy(in[0], Tensor::from_vector<int64_t>({2}, {1})); }, {z2});
}

TEST(CrossEntropy, Float32MatchesFloat64OnManyClasses) {
  Tensor z = rand({40, 1000}, 4, -10, 10);
  std::vector<int64_t> lab(40);
  for (int i = 0; i < 40; ++i) lab[i] = (i * 37) % 1000;
  Tensor y = Tensor::from_vector<int64_t>(lab, {40});
  Tensor zf = z.to(DType::Float32).set_requires_grad(true);
  z.set_requires_grad(true);
  Tensor l = cross_entropy(z, y), lf = cross_entropy(zf, y);
  EXPECT_LT(max_abs_diff(lf, l), 1e-5);
  sum(l).backward();
  sum(lf).backward();
  EXPECT_LT(max_abs_diff(zf.grad(), z.grad()), 1e-6);
}

TEST(CrossEntropy, LabelOutOfRangeIsAClearError) {
  Tensor z = Tensor::zeros({2, 3});
  for (int64_t bad : {3, -1}) {
    try {
      cross_entropy(z, Tensor::from_vector<int64_t>({0, bad}, {2}));
      FAIL() << "label " << bad << " was accepted";
    } catch (const Error& e) {
      std::string m = e.message();
      EXPECT_NE(m.find("label " + std::to_string(bad)), std::string::npos) << m;
      EXPECT_NE(m.find("sample 1"), std::string::npos) << m;
      EXPECT_NE(m.find("3 classes"), std::string::npos) << m;
    }
  }
}

TEST(CrossEntropy, BadShapesAndTypes) {
  EXPECT_THROW(cross_entropy(Tensor::zeros({2, 3}), Tensor::zeros({2}, DType::Int32)), Error);
  EXPECT_THROW(cross_entropy(Tensor::zeros({2, 3}), Tensor::zeros({3}, DType::Int64)), Error);
  EXPECT_THROW(cross_entropy(Tensor::zeros({6}), Tensor::zeros({6}, DType::Int64)), Error);
}

TEST(CrossEntropy, EmptyBatch) {
  Tensor l = cross_entropy(Tensor::zeros({0, 3}), Tensor::zeros({0}, DType::Int64));
  EXPECT_EQ(l.shape(), Shape{0});
}

TEST(CrossEntropy, KernelsMatchTheReference) {
  // Forward and backward at kernel level (dlogits assigned), float64 and float32, with rows far
  // from zero (the max shift matters), one class, and many classes.
  for (Shape s : {Shape{9, 10}, Shape{4, 1}, Shape{3, 1000}, Shape{1, 7}})
    for (DType dt : {DType::Float64, DType::Float32}) {
      const int64_t n = s[0], c = s[1];
      Tensor z = rand(s, 7, -30, 30, false, dt), dl = rand({n}, 8, -1, 1, false, dt);
      std::vector<int64_t> lab(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) lab[i] = (i * 5 + 2) % c;
      Tensor y = Tensor::from_vector(lab, {n});
      test::RefLoss ref = test::ref_cross_entropy(z, y, dl);
      Tensor losses = Tensor::empty({n}, dt), dz = Tensor::full(s, 5.0, dt);
      cross_entropy_forward(z, y, losses);
      cross_entropy_backward(dl, z, y, dz);
      const double tol = dt == DType::Float64 ? 1e-13 : 2e-5;
      EXPECT_LE(max_abs_diff(losses, ref.losses), tol) << shape_str(s);
      EXPECT_LE(max_abs_diff(dz, ref.dlogits), tol) << shape_str(s);
    }
}
