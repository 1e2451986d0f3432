// Sums and means over axes: values, the reference (kernels/reference/reduce.h) and gradient checks.
#include "kernels/reduce.h"

#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::rand;

TEST(Reduce, SumValues) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(sum(a).to_vector<float>(), (std::vector<float>{21}));
  EXPECT_EQ(sum(a, {0}).to_vector<float>(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(sum(a, {1}).to_vector<float>(), (std::vector<float>{6, 15}));
  EXPECT_EQ(sum(a, {-1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(mean(a, {1}).to_vector<float>(), (std::vector<float>{2, 5}));
}

TEST(Reduce, SumOfNonContiguousView) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).permute({1, 0});
  EXPECT_EQ(sum(a, {1}).to_vector<float>(), (std::vector<float>{5, 7, 9}));
}

TEST(Reduce, SumToShape) {
  Tensor g = Tensor::ones({2, 3, 4});
  Tensor r = sum_to_shape(g, {3, 1});
  EXPECT_EQ(r.shape(), (Shape{3, 1}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{8, 8, 8}));
}

TEST(Reduce, Gradcheck) {
  Tensor a = rand({2, 3, 4, 5}, 7, -1, 1, true);
  for (std::vector<int64_t> dims : {std::vector<int64_t>{}, {0}, {1}, {2, 3}, {0, 2, 3}, {-1}}) {
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sum(in[0], dims); }, {a});
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return mean(in[0], dims, true); }, {a});
  }
}

TEST(Reduce, MatchesTheReference) {
  Tensor a = rand({3, 4, 5, 6}, 8), a32 = a.to(DType::Float32);
  for (std::vector<int64_t> dims : {std::vector<int64_t>{}, {0}, {1}, {3}, {2, 3}, {0, 2, 3}, {-1}}) {
    EXPECT_LE(test::max_abs_diff(sum(a, dims, true), test::ref_sum(a, dims)), 1e-13);
    const double per_output = static_cast<double>(sum(a, dims).numel()) / static_cast<double>(a.numel());
    EXPECT_LE(test::max_abs_diff(mean(a32, dims, true), test::ref_sum(a32, dims, per_output)), 1e-6);
  }
}
