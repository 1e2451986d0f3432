// Elementwise ops: values, broadcasting on each axis, and gradient checks.
#include "kernels/elementwise.h"

#include "core/autograd.h"
#include "kernels/reduce.h"
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
