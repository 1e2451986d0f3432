// Activations: values, PyTorch's exact derivatives at the kinks, the kernels against the reference
// (kernels/reference/activation.h) kinks included, gradient checks away from the kinks.
#include "kernels/activation.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {
const Act kAll[] = {Act::None, Act::ReLU, Act::ReLU6, Act::Sigmoid, Act::SiLU, Act::HardSigmoid, Act::HardSwish};

// act'(x) through the autograd path (backward of a one-element output with gradient 1).
double derivative(Act act, double x) {
  Tensor t = Tensor::from_vector<double>({x}, {1}).set_requires_grad(true);
  activation(t, act).backward(Tensor::ones({1}, DType::Float64));
  return t.grad().item();
}
float derivative32(Act act, float x) {
  Tensor t = Tensor::from_vector<float>({x}, {1}).set_requires_grad(true);
  activation(t, act).backward(Tensor::ones({1}));
  return static_cast<float>(t.grad().item());
}

// Points spread over [-7, 7], none within 0.05 of a kink (0, +-3, 6) for finite differences.
Tensor smooth_points(const Shape& shape, uint64_t seed) {
  Tensor t = rand(shape, seed, -7, 7);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    for (double k : {-3.0, 0.0, 3.0, 6.0})
      if (std::fabs(p[i] - k) < 0.05) p[i] = k + 0.1;
  return t.set_requires_grad(true);
}
}  // namespace

TEST(Activation, ForwardValues) {
  Tensor x = Tensor::from_vector<double>({-4, -3, -1, 0, 1, 3, 6, 7}, {8});
  auto v = [&](Act a) { return activation(x, a).to_vector<double>(); };
  EXPECT_EQ(v(Act::ReLU), (std::vector<double>{0, 0, 0, 0, 1, 3, 6, 7}));
  EXPECT_EQ(v(Act::ReLU6), (std::vector<double>{0, 0, 0, 0, 1, 3, 6, 6}));
  EXPECT_EQ(v(Act::None), x.to_vector<double>());
  auto hs = v(Act::HardSigmoid);
  EXPECT_EQ(hs[0], 0.0);
  EXPECT_EQ(hs[1], 0.0);
  EXPECT_DOUBLE_EQ(hs[2], 2.0 / 6);
  EXPECT_DOUBLE_EQ(hs[3], 0.5);
  EXPECT_EQ(hs[5], 1.0);
  auto hw = v(Act::HardSwish);
  EXPECT_EQ(hw[0], 0.0);
  EXPECT_EQ(hw[1], 0.0);  // -3 * 0 / 6, an exact (signed) zero
  EXPECT_DOUBLE_EQ(hw[2], -1.0 * 2 / 6);
  EXPECT_EQ(hw[3], 0.0);
  EXPECT_DOUBLE_EQ(hw[4], 4.0 / 6);
  EXPECT_EQ(hw[5], 3.0);
  EXPECT_EQ(hw[7], 7.0);
  auto sg = v(Act::Sigmoid), si = v(Act::SiLU);
  for (size_t i = 0; i < sg.size(); ++i) {
    double xi = x.to_vector<double>()[i], s = 1 / (1 + std::exp(-xi));
    EXPECT_NEAR(sg[i], s, 1e-16);
    EXPECT_NEAR(si[i], xi * s, 1e-15);
  }
}

TEST(Activation, DerivativesAtTheKinksMatchPyTorch) {
  EXPECT_EQ(derivative(Act::ReLU, 0.0), 0.0);
  EXPECT_EQ(derivative(Act::ReLU, 1e-300), 1.0);
  EXPECT_EQ(derivative(Act::ReLU6, 0.0), 0.0);
  EXPECT_EQ(derivative(Act::ReLU6, 6.0), 0.0);
  EXPECT_EQ(derivative(Act::ReLU6, 5.999), 1.0);
  EXPECT_EQ(derivative(Act::HardSigmoid, -3.0), 0.0);
  EXPECT_EQ(derivative(Act::HardSigmoid, 3.0), 0.0);
  EXPECT_DOUBLE_EQ(derivative(Act::HardSigmoid, 2.9), 1.0 / 6);
  EXPECT_EQ(derivative(Act::HardSwish, -3.0), -0.5);
  EXPECT_EQ(derivative(Act::HardSwish, 3.0), 1.5);
  EXPECT_EQ(derivative(Act::HardSwish, -3.0001), 0.0);
  EXPECT_EQ(derivative(Act::HardSwish, 3.0001), 1.0);
  EXPECT_EQ(derivative(Act::HardSwish, 0.0), 0.5);
  EXPECT_NEAR(derivative(Act::HardSwish, 1.0), 0.8333, 1e-4);
  EXPECT_DOUBLE_EQ(derivative(Act::HardSwish, 1.0), 1.0 / 3 + 0.5);
  EXPECT_NEAR(derivative(Act::SiLU, -3.0), -0.088104, 1e-6);
  EXPECT_NEAR(derivative(Act::SiLU, 3.0), 1.088104, 1e-6);
  EXPECT_EQ(derivative(Act::SiLU, 0.0), 0.5);
  EXPECT_EQ(derivative(Act::Sigmoid, 0.0), 0.25);
  // The same in float32.
  EXPECT_EQ(derivative32(Act::ReLU, 0.0f), 0.0f);
  EXPECT_EQ(derivative32(Act::HardSwish, -3.0f), -0.5f);
  EXPECT_EQ(derivative32(Act::HardSwish, 3.0f), 1.5f);
  EXPECT_EQ(derivative32(Act::HardSigmoid, 3.0f), 0.0f);
  EXPECT_EQ(derivative32(Act::ReLU6, 6.0f), 0.0f);
  EXPECT_NEAR(derivative32(Act::SiLU, -3.0f), -0.088104f, 1e-6);
}

TEST(Activation, Gradcheck) {
  for (Act a : kAll) {
    Tensor x = smooth_points({3, 4, 5}, 1);
    EXPECT_GRADCHECK([a](const std::vector<Tensor>& in) { return activation(in[0], a); }, {x});
  }
}

TEST(Activation, NonContiguousInputAndChain) {
  for (Act a : kAll) {
    Tensor x = smooth_points({4, 6}, 2);
    EXPECT_GRADCHECK(
        [a](const std::vector<Tensor>& in) {
          return activation(activation(in[0].permute({1, 0}), a), a);
        },
        {x});
  }
}

TEST(Activation, Float32MatchesFloat64) {
  Tensor x = rand({50000}, 3, -8, 8);  // large enough for the parallel path
  Tensor g = rand({50000}, 4);
  for (Act a : kAll) {
    Tensor xd = x.clone().set_requires_grad(true), xf = x.to(DType::Float32).set_requires_grad(true);
    Tensor yd = activation(xd, a), yf = activation(xf, a);
    yd.backward(g);
    yf.backward(g.to(DType::Float32));
    EXPECT_LT(max_abs_diff(yf, yd), 1e-5) << act_name(a);
    EXPECT_LT(max_abs_diff(xf.grad(), xd.grad()), 1e-5) << act_name(a);
  }
}

TEST(Activation, Names) {
  EXPECT_STREQ(act_name(Act::HardSwish), "hardswish");
  EXPECT_STREQ(act_name(Act::None), "none");
}

TEST(Activation, HostExpfIsWithinTwoUlpAndKeepsSpecialValues) {
  // The CPU's float exp (sigmoid and SiLU use it): a polynomial that vectorises, checked against
  // the double exp over the whole normal range, and at the edges.
  double worst = 0.0;
  for (float x = -87.3f; x < 88.7f; x += 0.001f + std::fabs(x) * 1e-4f) {
    const double e = std::exp(static_cast<double>(x));
    const double ulp = std::ldexp(1.0, std::ilogb(static_cast<float>(e)) - 23);
    worst = std::max(worst, std::fabs(host_expf(x) - e) / ulp);
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(host_expf(0.0f), 1.0f);
  EXPECT_EQ(host_expf(-0.0f), 1.0f);
  EXPECT_TRUE(std::isfinite(host_expf(88.72f)));  // just below FLT_MAX's log
  EXPECT_EQ(host_expf(88.8f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(host_expf(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_EQ(host_expf(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(host_expf(-100.0f), 0.0f);  // subnormal results flush to 0
  EXPECT_TRUE(std::isnan(host_expf(std::numeric_limits<float>::quiet_NaN())));
  // Sigmoid at the extremes: 0 and 1 exactly, no NaN from inf / inf.
  EXPECT_EQ(act_forward(Act::Sigmoid, -200.0f), 0.0f);
  EXPECT_EQ(act_forward(Act::Sigmoid, 200.0f), 1.0f);
  EXPECT_EQ(act_forward(Act::SiLU, -200.0f), -0.0f);
}

TEST(Activation, KernelsMatchTheReference) {
  // Random points and every kink, forward and backward at kernel level (dx is assigned: its junk
  // must vanish), in float64 and float32 (against the reference on the same float32 values).
  std::vector<double> points = rand({3000}, 5, -8, 8).to_vector<double>();
  for (double kink : {-6.0, -3.0, 0.0, 3.0, 6.0}) points.push_back(kink);
  const Shape s{static_cast<int64_t>(points.size())};
  for (DType dt : {DType::Float64, DType::Float32}) {
    Tensor x = Tensor::from_vector(points, s).to(dt), g = rand(s, 6, -1, 1, false, dt);
    const double tol = dt == DType::Float64 ? 4e-15 : 2e-6;
    for (Act a : kAll) {
      Tensor out = Tensor::empty(s, dt), dx = Tensor::full(s, 7.0, dt);
      activation_forward(a, x, out);
      activation_backward(a, g, x, out, dx);
      EXPECT_LE(max_abs_diff(out, test::ref_activation_forward(x, a)), tol) << act_name(a);
      EXPECT_LE(max_abs_diff(dx, test::ref_activation_backward(g, x, a)), tol) << act_name(a);
    }
  }
}
