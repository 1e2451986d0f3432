// Elementwise ops: values, broadcasting on each axis against the reference
// (kernels/reference/elementwise.h) forward and backward, and gradient checks.
#include "kernels/elementwise.h"

#include "core/autograd.h"
#include "kernels/reduce.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::rand;

TEST(Elementwise, AddValues) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({10, 20, 30}, {3});
  EXPECT_EQ((a + b).to_vector<float>(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ((a - b).to_vector<float>(), (std::vector<float>{-9, -18, -27, -6, -15, -24}));
  EXPECT_EQ((a * 2.0).to_vector<float>(), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  Tensor col = Tensor::from_vector<float>({2, 4}, {2, 1});
  EXPECT_EQ((a / col).to_vector<float>(), (std::vector<float>{0.5f, 1, 1.5f, 1, 1.25f, 1.5f}));
}

TEST(Elementwise, ShapesThatDoNotBroadcastAreRejected) {
  EXPECT_THROW(Tensor::zeros({2, 3}) + Tensor::zeros({2}), Error);
}

class ElementwiseGrad : public ::testing::TestWithParam<std::tuple<int, Shape, Shape>> {};

TEST_P(ElementwiseGrad, Gradcheck) {
  auto [op, sa, sb] = GetParam();
  Tensor a = rand(sa, 1, 0.5, 2.0, true), b = rand(sb, 2, 0.5, 2.0, true);
  auto f = [op = op](const std::vector<Tensor>& in) {
    switch (op) {
      case 0: return in[0] + in[1];
      case 1: return in[0] - in[1];
      case 2: return in[0] * in[1];
      default: return in[0] / in[1];
    }
  };
  EXPECT_GRADCHECK(f, {a, b});
}

// Broadcasting on each axis of a 4-d NCHW tensor, plus scalar-shaped and rank-extending cases.
INSTANTIATE_TEST_SUITE_P(
    BroadcastAxes, ElementwiseGrad,
    ::testing::Combine(::testing::Values(0, 1, 2, 3),
                       ::testing::Values(Shape{2, 3, 4, 5}),
                       ::testing::Values(Shape{2, 3, 4, 5}, Shape{1, 3, 4, 5}, Shape{2, 1, 4, 5}, Shape{2, 3, 1, 5},
                                         Shape{2, 3, 4, 1}, Shape{3, 1, 1}, Shape{}, Shape{5})));

TEST(Elementwise, ScalarOpsGradcheck) {
  Tensor a = rand({3, 4}, 3, -1, 1, true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return -(in[0] * 3.0 + 1.5) / 2.0; }, {a});
}

TEST(Elementwise, SameTensorTwiceAccumulates) {
  Tensor a = rand({4}, 4, -1, 1, true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return in[0] * in[0] + in[0]; }, {a});
}

TEST(Elementwise, BroadcastingMatchesTheReference) {
  const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};
  for (Shape sb : {Shape{2, 3, 4, 5}, Shape{1, 3, 4, 5}, Shape{2, 1, 4, 1}, Shape{3, 1, 1}, Shape{}, Shape{5}})
    for (BinaryOp op : ops) {
      Tensor a = rand({2, 3, 4, 5}, 5, 0.5, 2.0, true), b = rand(sb, 6, 0.5, 2.0, true);
      Tensor g = rand({2, 3, 4, 5}, 7);
      std::vector<Tensor> ref = test::ref_binary_op(op, a, b, g);
      Tensor out = op == BinaryOp::Add ? a + b : op == BinaryOp::Sub ? a - b : op == BinaryOp::Mul ? a * b : a / b;
      out.backward(g);
      EXPECT_LE(test::max_abs_diff(out, ref[0]), 1e-15) << shape_str(sb);
      EXPECT_LE(test::max_abs_diff(a.grad(), ref[1]), 1e-14) << shape_str(sb);
      EXPECT_LE(test::max_abs_diff(b.grad(), ref[2]), 1e-13) << shape_str(sb);  // sums of up to 120 terms
    }
}
