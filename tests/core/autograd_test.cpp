// The autograd engine: accumulation, shared subgraphs, no-grad, detach, views, errors.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

using namespace dybat;

namespace {
Tensor leaf(std::vector<double> v) {
  Tensor t = Tensor::from_vector<double>(v, {static_cast<int64_t>(v.size())});
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST(Autograd, ScalarBackwardAndAccumulation) {
  Tensor x = leaf({1, 2, 3});
  Tensor y = sum(x * x);  // dy/dx = 2x
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4, 6}));
  Tensor y2 = sum(x * 3.0);  // gradients accumulate across backward calls
  y2.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 7, 9}));
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  Tensor x = leaf({2});
  Tensor a = x * 3.0, b = x * x;
  Tensor y = sum(a * b);  // y = 3 x^3, dy/dx = 9 x^2 = 36
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 36.0);
}

TEST(Autograd, BackwardWithExplicitGradient) {
  Tensor x = leaf({1, 2});
  Tensor y = x * 2.0;
  y.backward(Tensor::from_vector<double>({10, 100}, {2}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{20, 200}));
  EXPECT_THROW(y.backward(), Error);  // not a scalar
}

TEST(Autograd, SecondBackwardThroughTheSameGraphIsAnError) {
  Tensor x = leaf({1, 2});
  Tensor y = sum(x * x);
  y.backward();
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = leaf({1, 2});
  Tensor y;
  {
    NoGradGuard ng;
    y = x * 2.0;
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(GradMode::enabled());
  EXPECT_THROW(y.backward(Tensor::ones({2}, DType::Float64)), Error);
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = leaf({3});
  Tensor y = sum(x.detach() * x);  // only the second factor carries gradient: d/dx = x.detach() = 3
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 3.0);
}

TEST(Autograd, ViewsAreDifferentiable) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  x.set_requires_grad(true);
  Tensor w = Tensor::from_vector<double>({1, 10, 100, 1000, 10000, 100000}, {3, 2});
  Tensor y = sum(x.permute({1, 0}) * w);
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 100, 10000, 10, 1000, 100000}));
  Tensor x2 = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
  x2.set_requires_grad(true);
  sum(x2.reshape({4}) * Tensor::from_vector<double>({1, 2, 3, 4}, {4})).backward();
  EXPECT_EQ(x2.grad().to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
}

TEST(Autograd, UnusedBranchDoesNotBlockOthers) {
  // One input feeds a node that receives no gradient (it is not on the path to y); the engine
  // must still run the nodes that do.
  Tensor x = leaf({1, 2});
  Tensor a = x * 2.0;
  Tensor unused = a * 5.0;
  (void)unused;
  Tensor y = sum(a * a);
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{8, 16}));
}

TEST(Autograd, LeafGradientIsNotAliasedWithOtherTensors) {
  // d(sum(x + b))/db is dout itself; storing it must not alias memory another tensor sees.
  Tensor x = leaf({1, 2});
  Tensor b = leaf({0, 0});
  Tensor y = x + b;
  y.backward(Tensor::from_vector<double>({1, 1}, {2}));
  EXPECT_FALSE(x.grad().same_storage(b.grad()));
}

TEST(Autograd, SetRequiresGradRules) {
  Tensor x = leaf({1});
  Tensor y = x * 2.0;
  EXPECT_THROW(y.set_requires_grad(false), Error);
  EXPECT_THROW(Tensor::zeros({2}, DType::Int64).set_requires_grad(true), Error);
}
