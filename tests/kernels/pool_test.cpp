// Pooling on the CPU: max-pool ties and padding, average pooling with padding in the divisor,
// adaptive pooling over non-divisible sizes, the reference (kernels/reference/pool.h) forward and
// backward over many geometries, gradient checks.
#include "kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;
using dybat::test::ref_adaptive_avg_pool2d;
using dybat::test::ref_avg_pool2d;
using dybat::test::ref_max_pool2d;
using dybat::test::RefPool;

namespace {

Pool2dParams pool(int k, int s, int pad) { return {k, k, s, s, pad, pad}; }

// A tie-free input: a random permutation of spread-out values (finite differences of max pooling
// are only valid away from ties).
Tensor distinct(const Shape& shape, uint64_t seed, DType dtype = DType::Float64) {
  int64_t n = shape_numel(shape);
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  std::vector<double> keys = rand({n}, seed).to_vector<double>();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) out[order[i]] = (v[i] - n / 2.0) * 0.01;
  return Tensor::from_vector(out, shape).to(dtype);
}

struct PoolCase {
  const char* name;
  Shape x;
  Pool2dParams p;
};

const PoolCase kPoolCases[] = {
    {"k2_s2", {2, 3, 6, 8}, pool(2, 2, 0)},
    {"k3_s2_p1_odd", {2, 2, 7, 9}, pool(3, 2, 1)},
    {"k3_s2_p1_even", {1, 3, 8, 6}, pool(3, 2, 1)},
    {"k3_s1_p1", {2, 2, 5, 4}, pool(3, 1, 1)},
    {"rect", {2, 2, 7, 6}, {3, 2, 2, 1, 1, 1}},
    {"k2_s3", {1, 2, 8, 7}, pool(2, 3, 0)},
    {"k5_s2_p2", {1, 2, 9, 9}, pool(5, 2, 2)},
    {"window_is_plane", {3, 2, 4, 4}, pool(4, 1, 0)},
};

class PoolCases : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolCases, MaxMatchesReference) {
  const PoolCase& k = GetParam();
  for (DType dt : {DType::Float64, DType::Float32}) {
    Tensor x = distinct(k.x, 1, dt);
    Tensor dout = rand(ref_max_pool2d(x, k.p).out.shape(), 5, -1, 1, false, dt);
    RefPool ref = ref_max_pool2d(x, k.p, dout);
    Tensor out = Tensor::empty(ref.out.shape(), dt), argmax = Tensor::empty(ref.out.shape(), DType::Int64);
    max_pool2d_forward(x, k.p, out, argmax);
    EXPECT_EQ(max_abs_diff(out, ref.out), 0.0);
    EXPECT_EQ(argmax.to_vector<int64_t>(), ref.argmax.to_vector<int64_t>());
    Tensor dx = Tensor::full(x.shape(), 9.0, dt);  // assigned: the fill must vanish
    max_pool2d_backward(dout, argmax, k.p, dx);
    // Overlapping windows add into one cell: float32 sums round.
    EXPECT_LE(max_abs_diff(dx, ref.dx), dt == DType::Float64 ? 1e-15 : 1e-6);
  }
}

TEST_P(PoolCases, AvgMatchesReference) {
  const PoolCase& k = GetParam();
  Tensor x = rand(k.x, 2);
  Tensor dout = rand(avg_pool2d(x, k.p).shape(), 6);
  RefPool ref = ref_avg_pool2d(x, k.p, dout);
  EXPECT_LE(max_abs_diff(avg_pool2d(x, k.p), ref.out), 1e-15);
  Tensor dx = Tensor::full(x.shape(), 9.0, DType::Float64);
  avg_pool2d_backward(dout, k.p, dx);
  EXPECT_LE(max_abs_diff(dx, ref.dx), 1e-15);
  Tensor x32 = x.to(DType::Float32);
  EXPECT_LE(max_abs_diff(avg_pool2d(x32, k.p), ref_avg_pool2d(x32, k.p).out), 1e-6);
}

TEST_P(PoolCases, Gradcheck) {
  const PoolCase& k = GetParam();
  Pool2dParams p = k.p;
  Tensor x = distinct(k.x, 3).set_requires_grad(true);
  EXPECT_GRADCHECK([p](const std::vector<Tensor>& in) { return max_pool2d(in[0], p); }, {x});
  Tensor y = rand(k.x, 4, -1, 1, true);
  EXPECT_GRADCHECK([p](const std::vector<Tensor>& in) { return avg_pool2d(in[0], p); }, {y});
}

INSTANTIATE_TEST_SUITE_P(Geometries, PoolCases, ::testing::ValuesIn(kPoolCases),
                         [](const ::testing::TestParamInfo<PoolCase>& i) { return std::string(i.param.name); });

}  // namespace

TEST(MaxPool2d, HandComputedWithArgmax) {
  Tensor x = Tensor::from_vector<float>({1, 5, 2, 0,   //
                                         3, 4, 8, 7,   //
                                         9, 0, 1, 1,   //
                                         2, 6, 3, 10},
                                        {1, 1, 4, 4});
  Tensor out = Tensor::empty({1, 1, 2, 2}), argmax = Tensor::empty({1, 1, 2, 2}, DType::Int64);
  max_pool2d_forward(x, pool(2, 2, 0), out, argmax);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{5, 8, 9, 10}));
  EXPECT_EQ(argmax.to_vector<int64_t>(), (std::vector<int64_t>{1, 6, 8, 15}));
}

TEST(MaxPool2d, AllZeroWindowsSendGradientToTheirTopLeftRealCell) {
  // After a ReLU the stem's max pool sees exact zeros: every window ties, and the first real cell
  // in row-major order must win (the ResNet stem: kernel 3, stride 2, padding 1).
  Tensor x = Tensor::zeros({1, 1, 5, 5}, DType::Float64).set_requires_grad(true);
  Tensor out = max_pool2d(x, pool(3, 2, 1));
  ASSERT_EQ(out.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(out.to_vector<double>(), std::vector<double>(9, 0.0));
  std::vector<double> g(9);
  std::iota(g.begin(), g.end(), 1.0);
  out.backward(Tensor::from_vector(g, {1, 1, 3, 3}));
  // Window (oh, ow) starts at row 2 oh - 1, column 2 ow - 1; its first real cell is
  // (max(0, 2 oh - 1), max(0, 2 ow - 1)): rows/columns 0, 1, 3.
  std::vector<double> expect(25, 0.0);
  const int cell[3] = {0, 1, 3};
  for (int oh = 0; oh < 3; ++oh)
    for (int ow = 0; ow < 3; ++ow) expect[cell[oh] * 5 + cell[ow]] += g[oh * 3 + ow];
  EXPECT_EQ(x.grad().to_vector<double>(), expect);
}

TEST(MaxPool2d, TiesPickFirstMaximumInRowMajorOrder) {
  // Two equal maxima in one window: the earlier one (row-major) wins, also after a larger
  // value has been seen earlier in another row.
  Tensor x = Tensor::from_vector<double>({1, 7, 7, 0,  //
                                          7, 2, 3, 7},
                                         {1, 1, 2, 4});
  Tensor out = Tensor::empty({1, 1, 1, 2}, DType::Float64), argmax = Tensor::empty({1, 1, 1, 2}, DType::Int64);
  max_pool2d_forward(x, pool(2, 2, 0), out, argmax);
  EXPECT_EQ(argmax.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
}

TEST(MaxPool2d, PaddingIsMinusInfinity) {
  // All-negative input: a zero pad would win; -inf padding never does.
  Tensor x = Tensor::full({1, 2, 3, 3}, -2.0, DType::Float64);
  Tensor out = max_pool2d(x, pool(3, 2, 1));
  EXPECT_EQ(out.to_vector<double>(), std::vector<double>(8, -2.0));
  Tensor xi = Tensor::full({1, 1, 2, 2}, -INFINITY, DType::Float32);
  Tensor out2 = Tensor::empty({1, 1, 1, 1}), argmax = Tensor::empty({1, 1, 1, 1}, DType::Int64);
  max_pool2d_forward(xi, pool(3, 2, 1), out2, argmax);
  EXPECT_EQ(out2.to_vector<float>()[0], -INFINITY);
  EXPECT_EQ(argmax.to_vector<int64_t>()[0], 0);  // the first real cell, never a padded one
}

TEST(MaxPool2d, NanPropagates) {
  Tensor x = Tensor::from_vector<float>({1, NAN, 5, 2}, {1, 1, 2, 2});
  Tensor out = Tensor::empty({1, 1, 1, 1}), argmax = Tensor::empty({1, 1, 1, 1}, DType::Int64);
  max_pool2d_forward(x, pool(2, 2, 0), out, argmax);
  EXPECT_TRUE(std::isnan(out.to_vector<float>()[0]));
  EXPECT_EQ(argmax.to_vector<int64_t>()[0], 1);
}

TEST(MaxPool2d, OverlappingWindowsAccumulateInBackward) {
  // One large value in the middle wins four overlapping 3x3 / stride 1 windows of a 4x4 plane.
  std::vector<double> v(16, 0.0);
  for (int i = 0; i < 16; ++i) v[i] = -1.0 - i * 0.01;
  v[5] = 10.0;
  Tensor x = Tensor::from_vector(v, {1, 1, 4, 4}).set_requires_grad(true);
  Tensor out = max_pool2d(x, pool(3, 1, 0));
  out.backward(Tensor::from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}));
  std::vector<double> g = x.grad().to_vector<double>();
  EXPECT_EQ(g[5], 1.0 + 2.0 + 3.0 + 4.0);
  EXPECT_EQ(std::accumulate(g.begin(), g.end(), 0.0), 10.0);
}

TEST(AvgPool2d, PaddingCountsInTheDivisor) {
  Tensor x = Tensor::ones({1, 1, 3, 3}, DType::Float64);
  Tensor out = avg_pool2d(x, pool(3, 1, 1));
  std::vector<double> expect = {4, 6, 4, 6, 9, 6, 4, 6, 4};
  for (double& e : expect) e /= 9.0;
  auto got = out.to_vector<double>();
  for (int i = 0; i < 9; ++i) EXPECT_DOUBLE_EQ(got[i], expect[i]) << i;
  // Stride 2, odd size, with padding: window (0, 0) covers the real cells (0..1, 0..1).
  Tensor y = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {1, 1, 3, 5});
  Tensor o2 = avg_pool2d(y, pool(3, 2, 1));
  ASSERT_EQ(o2.shape(), (Shape{1, 1, 2, 3}));
  EXPECT_DOUBLE_EQ(o2.to_vector<double>()[0], (1 + 2 + 6 + 7) / 9.0);
  EXPECT_DOUBLE_EQ(o2.to_vector<double>()[4], (7 + 8 + 9 + 12 + 13 + 14) / 9.0);
}

TEST(AvgPool2d, BackwardSpreadsOverWindowIncludingPad) {
  Tensor x = rand({1, 1, 3, 3}, 5, -1, 1, true);
  Tensor out = avg_pool2d(x, pool(3, 1, 1));
  out.backward(Tensor::ones(out.shape(), DType::Float64));
  // Every cell of a 3x3 plane lies in as many windows as it has 3x3-neighbourhood cells.
  std::vector<double> expect = {4, 6, 4, 6, 9, 6, 4, 6, 4};
  auto g = x.grad().to_vector<double>();
  for (int i = 0; i < 9; ++i) EXPECT_DOUBLE_EQ(g[i], expect[i] / 9.0) << i;
}

TEST(AdaptiveAvgPool2d, NonDivisibleSizes) {
  // 5 rows into 3: [0, 2), [1, 4), [3, 5); 7 columns into 2: [0, 4), [3, 7).
  std::vector<double> v(35);
  std::iota(v.begin(), v.end(), 0.0);  // x[h, w] = 7h + w
  Tensor x = Tensor::from_vector(v, {1, 1, 5, 7});
  Tensor out = adaptive_avg_pool2d(x, 3, 2);
  ASSERT_EQ(out.shape(), (Shape{1, 1, 3, 2}));
  // The mean of a box of an affine plane is its value at the box's centre.
  auto mean = [](double h0, double h1, double w0, double w1) { return 7 * (h0 + h1 - 1) / 2 + (w0 + w1 - 1) / 2; };
  std::vector<double> expect = {mean(0, 2, 0, 4), mean(0, 2, 3, 7), mean(1, 4, 0, 4),
                                mean(1, 4, 3, 7), mean(3, 5, 0, 4), mean(3, 5, 3, 7)};
  auto got = out.to_vector<double>();
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(got[i], expect[i], 1e-12) << i;
  Tensor y = rand({2, 3, 5, 7}, 6);
  EXPECT_LE(max_abs_diff(adaptive_avg_pool2d(y, 3, 2), ref_adaptive_avg_pool2d(y, 3, 2).out), 1e-15);
  EXPECT_LE(max_abs_diff(adaptive_avg_pool2d(y, 4, 5), ref_adaptive_avg_pool2d(y, 4, 5).out), 1e-15);
  EXPECT_LE(max_abs_diff(adaptive_avg_pool2d(y, 7, 9), ref_adaptive_avg_pool2d(y, 7, 9).out), 1e-15);  // larger than input
}

TEST(AdaptiveAvgPool2d, BackwardMatchesTheReference) {
  Tensor x = rand({2, 3, 5, 7}, 12);
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{1, 1}, {3, 2}, {4, 5}, {7, 9}}) {
    Tensor dout = rand({2, 3, oh, ow}, 13);
    Tensor dx = Tensor::full(x.shape(), 9.0, DType::Float64);
    adaptive_avg_pool2d_backward(dout, dx);
    EXPECT_LE(max_abs_diff(dx, ref_adaptive_avg_pool2d(x, oh, ow, dout).dx), 1e-15) << oh << "x" << ow;
  }
}

TEST(AdaptiveAvgPool2d, GlobalIsTheMeanAndSpreadsEvenly) {
  Tensor x = rand({3, 4, 5, 6}, 7, -1, 1, true);
  Tensor out = adaptive_avg_pool2d(x, 1, 1);
  ASSERT_EQ(out.shape(), (Shape{3, 4, 1, 1}));
  EXPECT_LE(max_abs_diff(out, ref_adaptive_avg_pool2d(x.detach(), 1, 1).out), 1e-15);
  out.backward(Tensor::full(out.shape(), 3.0, DType::Float64));
  for (double g : x.grad().to_vector<double>()) EXPECT_DOUBLE_EQ(g, 3.0 / 30.0);
  Tensor x32 = rand({2, 8, 7, 7}, 8, -1, 1, false, DType::Float32);
  EXPECT_LE(max_abs_diff(adaptive_avg_pool2d(x32, 1, 1), ref_adaptive_avg_pool2d(x32, 1, 1).out), 1e-6);
}

TEST(AdaptiveAvgPool2d, Gradcheck) {
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{1, 1}, {3, 2}, {2, 5}, {6, 9}}) {
    Tensor x = rand({2, 2, 5, 7}, 9, -1, 1, true);
    EXPECT_GRADCHECK([oh = oh, ow = ow](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], oh, ow); },
                     {x});
  }
}

TEST(Pool2d, GradientIsAssignedNotAccumulatedAtKernelLevel) {
  Tensor x = distinct({1, 2, 5, 5}, 10);
  Tensor out = Tensor::empty({1, 2, 3, 3}, DType::Float64), argmax = Tensor::empty({1, 2, 3, 3}, DType::Int64);
  max_pool2d_forward(x, pool(3, 2, 1), out, argmax);
  Tensor dout = rand(out.shape(), 11);
  Tensor dx1 = Tensor::zeros(x.shape(), DType::Float64), dx2 = Tensor::full(x.shape(), 77.0, DType::Float64);
  max_pool2d_backward(dout, argmax, pool(3, 2, 1), dx1);
  max_pool2d_backward(dout, argmax, pool(3, 2, 1), dx2);
  EXPECT_EQ(max_abs_diff(dx1, dx2), 0.0);
  avg_pool2d_backward(dout, pool(3, 2, 1), dx1);
  dx2.fill_(77.0);
  avg_pool2d_backward(dout, pool(3, 2, 1), dx2);
  EXPECT_EQ(max_abs_diff(dx1, dx2), 0.0);
  adaptive_avg_pool2d_backward(dout, dx1);
  dx2.fill_(77.0);
  adaptive_avg_pool2d_backward(dout, dx2);
  EXPECT_EQ(max_abs_diff(dx1, dx2), 0.0);
}

TEST(Pool2d, BadParametersAreRejected) {
  Tensor x = Tensor::zeros({1, 2, 4, 4});
  EXPECT_THROW(max_pool2d(x, pool(3, 2, 2)), Error);             // padding above half the kernel
  EXPECT_THROW(max_pool2d(x, pool(5, 1, 0)), Error);             // kernel larger than the input
  EXPECT_THROW(avg_pool2d(x, pool(2, 0, 0)), Error);             // stride 0
  EXPECT_THROW(avg_pool2d(Tensor::zeros({2, 4, 4}), pool(2, 2, 0)), Error);  // not 4-d
  EXPECT_THROW(adaptive_avg_pool2d(x, 0, 1), Error);
  Tensor out = Tensor::empty({1, 2, 2, 2});
  EXPECT_THROW(max_pool2d_forward(x, pool(2, 2, 0), out, Tensor::empty({1, 2, 2, 2})), Error);  // argmax not int64
  EXPECT_THROW(avg_pool2d_forward(x, pool(2, 2, 0), Tensor::empty({1, 2, 3, 2})), Error);      // wrong out shape
}
