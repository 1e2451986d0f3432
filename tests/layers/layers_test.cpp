// The basic layers: parameter names and shapes, padding, BatchNorm2d's three modes (against the
// reference tier) and its fused residual + activation, shape tracing against real forward shapes.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/pool.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {
std::vector<std::string> names(const Module& m) {
  std::vector<std::string> out;
  for (auto& [n, t] : m.state_dict()) out.push_back(n);
  return out;
}

Shape traced(const Module& m, const Shape& in) {
  ShapeTrace t;
  return t.child("m", m, in);
}

// BatchNorm2d's output and running statistics by the reference tier, in `mode`.
test::RefBatchNorm reference_bn(const BatchNorm2d& bn, const Tensor& x, Mode mode) {
  const BatchNormOptions opt{mode != Mode::Eval, mode == Mode::Train, 0.1, 1e-5, bn.act()};
  return test::ref_batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, opt);
}
}  // namespace

TEST(Conv2dLayer, NamesShapesAndTimmPadding) {
  Conv2d dw(16, 16, 5, 2, 16);
  EXPECT_EQ(names(dw), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(dw.weight.shape(), (Shape{16, 1, 5, 5}));
  EXPECT_EQ(dw.params().pad_h, 2);  // ((s-1) + (k-1)) / 2 = (1 + 4) / 2
  Conv2d head(576, 1024, 1, 1, 1, true);
  EXPECT_EQ(names(head), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(head.params().pad_h, 0);
  EXPECT_EQ(Conv2d(3, 64, 7, 2).params().pad_h, 3);
  EXPECT_EQ(Conv2d(8, 8, 1, 2).params().pad_h, 0);
  EXPECT_THROW(Conv2d(6, 8, 3, 1, 4), Error);  // groups must divide both widths
}

TEST(Conv2dLayer, TraceAgreesWithForward) {
  for (int k : {1, 3, 5, 7})
    for (int s : {1, 2})
      for (int64_t h : {5, 8, 9}) {
        Conv2d conv(4, 6, k, s, 2, true);
        Generator g(k * 10 + s);
        conv.weight.set_data(Tensor::normal(conv.weight.shape(), 0, 0.1, g));
        Tensor x = rand({2, 4, h, h + 1}, 3, -1, 1, false, DType::Float32);
        Tensor y = conv.forward(x);
        EXPECT_EQ(traced(conv, x.shape()), y.shape()) << "k" << k << " s" << s << " h" << h;
        Tensor ref = conv2d(x, conv.weight, conv.bias, conv.params());
        EXPECT_EQ(max_abs_diff(y.to(DType::Float64), ref.to(DType::Float64)), 0.0);
      }
  Conv2d conv(4, 6, 3);
  EXPECT_THROW(conv.forward(Tensor::zeros({1, 5, 8, 8})), Error);  // wrong channel count
  EXPECT_THROW(traced(conv, {1, 5, 8, 8}), Error);
}

TEST(BatchNorm2dLayer, NamesAndInitialState) {
  BatchNorm2d bn(8, Act::SiLU);
  EXPECT_EQ(names(bn),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::Int64);
  EXPECT_EQ(bn.named_parameters().size(), 2u);
  EXPECT_EQ(bn.type_name(), "BatchNorm2d+SiLU");
  EXPECT_EQ(BatchNorm2d(8).type_name(), "BatchNorm2d");
}

TEST(BatchNorm2dLayer, TrainModeUsesBatchStatsUpdatesRunningStatsAndCounts) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    BatchNorm2d bn(3);
    bn.to(dt);
    Generator g(1);
    bn.weight.set_data(Tensor::uniform({3}, 0.5, 1.5, g, dt));
    bn.bias.set_data(Tensor::uniform({3}, -0.5, 0.5, g, dt));
    Tensor x = rand({4, 3, 5, 5}, 2, -2, 3, false, dt);
    const test::RefBatchNorm ref = reference_bn(bn, x, Mode::Train);
    Tensor y = bn.forward(x);
    const double tol = dt == DType::Float32 ? 2e-5 : 1e-12;
    EXPECT_LE(max_abs_diff(y.to(DType::Float64), ref.out), tol);
    EXPECT_LE(max_abs_diff(bn.running_mean, ref.running_mean), tol);
    EXPECT_LE(max_abs_diff(bn.running_var, ref.running_var), tol) << "running_var uses the unbiased variance";
    EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{1});
    bn.forward(x);
    EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{2});
  }
}

TEST(BatchNorm2dLayer, EvalBatchStatsNormalisesWithTheBatchAndUpdatesNothing) {
  BatchNorm2d bn(3);
  bn.to(DType::Float64);
  bn.set_mode(Mode::EvalBatchStats);
  Tensor x = rand({2, 3, 4, 4}, 5, -1, 2);
  Tensor y = bn.forward(x);
  EXPECT_LE(max_abs_diff(y, reference_bn(bn, x, Mode::EvalBatchStats).out), 1e-12);
  EXPECT_EQ(bn.running_mean.to_vector<double>(), std::vector<double>(3, 0.0));
  EXPECT_EQ(bn.running_var.to_vector<double>(), std::vector<double>(3, 1.0));
  EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{0});
}

TEST(BatchNorm2dLayer, EvalUsesRunningStats) {
  BatchNorm2d bn(2);
  bn.to(DType::Float64);
  bn.running_mean.copy_(Tensor::from_vector<double>({0.5, -1}, {2}));
  bn.running_var.copy_(Tensor::from_vector<double>({4, 0.25}, {2}));
  bn.eval();
  Tensor x = rand({3, 2, 2, 3}, 6, -1, 1);
  Tensor y = bn.forward(x);
  EXPECT_LE(max_abs_diff(y, reference_bn(bn, x, Mode::Eval).out), 1e-12);
  EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{0});
  EXPECT_EQ(bn.running_mean.to_vector<double>(), (std::vector<double>{0.5, -1}));
}

TEST(BatchNorm2dLayer, FusedResidualAndActivation) {
  // out = act(BN(x) + residual), act after the add (the ResNet block tail).
  BatchNorm2d bn(4, Act::ReLU), plain(4);
  bn.to(DType::Float64);
  plain.to(DType::Float64);
  Tensor x = rand({2, 4, 3, 3}, 7, -1, 1), r = rand({2, 4, 3, 3}, 8, -1, 1);
  Tensor fused = bn.forward(x, r);
  Tensor unfused = relu(plain.forward(x) + r);
  EXPECT_LE(max_abs_diff(fused, unfused), 1e-12);
  // The fused op is differentiable in x, the residual and both affine parameters.
  Tensor xg = rand({2, 4, 3, 3}, 9, -1, 1, true), rg = rand({2, 4, 3, 3}, 10, -1, 1, true);
  BatchNorm2d silu(4, Act::SiLU);
  silu.to(DType::Float64);
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return silu.forward(in[0], in[1]); },
                   (std::vector<Tensor>{xg, rg, silu.weight, silu.bias}));
}

TEST(BatchNorm2dLayer, ModePropagatesToChildren) {
  Sequential seq;
  auto bn = seq.add(std::make_shared<BatchNorm2d>(2));
  seq.eval();
  EXPECT_EQ(bn->mode(), Mode::Eval);
  seq.set_mode(Mode::EvalBatchStats);
  EXPECT_EQ(bn->mode(), Mode::EvalBatchStats);
  seq.train();
  EXPECT_EQ(bn->mode(), Mode::Train);
}

TEST(OtherLayers, LinearPoolsActivationsFlatten) {
  Linear fc(6, 3);
  EXPECT_EQ(names(fc), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(fc.weight.shape(), (Shape{3, 6}));
  EXPECT_EQ(traced(fc, {5, 6}), (Shape{5, 3}));
  EXPECT_EQ(fc.forward(Tensor::zeros({5, 6})).shape(), (Shape{5, 3}));
  EXPECT_THROW(fc.forward(Tensor::zeros({5, 7})), Error);

  MaxPool2d pool(3, 2, 1);
  for (int64_t h : {1, 2, 7, 8}) {
    Tensor x = rand({1, 2, h, h}, 11, -1, 1, false, DType::Float32);
    EXPECT_EQ(traced(pool, x.shape()), pool.forward(x).shape()) << h;
  }
  GlobalAvgPool2d gap(true), gap4(false);
  Tensor x = rand({2, 3, 4, 5}, 12);
  EXPECT_EQ(gap.forward(x).shape(), (Shape{2, 3}));
  EXPECT_EQ(traced(gap, x.shape()), (Shape{2, 3}));
  EXPECT_EQ(gap4.forward(x).shape(), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(traced(gap4, x.shape()), (Shape{2, 3, 1, 1}));
  EXPECT_LE(max_abs_diff(gap.forward(x), mean(x, {2, 3})), 1e-15);

  Activation hs(Act::HardSwish);
  EXPECT_EQ(hs.type_name(), "Hardswish");
  EXPECT_TRUE(names(hs).empty());
  EXPECT_LE(max_abs_diff(hs.forward(x), hardswish(x)), 0.0);
  Flatten flat;
  EXPECT_EQ(flat.forward(x).shape(), (Shape{2, 60}));
  EXPECT_EQ(traced(flat, x.shape()), (Shape{2, 60}));
}

TEST(OtherLayers, TraceRowsCountMacs) {
  Conv2d conv(4, 8, 3, 2, 2);  // grouped: MACs = H_out W_out C_out (C_in/groups) k k
  ShapeTrace t;
  t.child("c", conv, {1, 4, 9, 9});
  ASSERT_EQ(t.rows().size(), 1u);
  EXPECT_EQ(t.rows()[0].name, "c");
  EXPECT_EQ(t.rows()[0].out, (Shape{1, 8, 5, 5}));
  EXPECT_EQ(t.rows()[0].macs, 5 * 5 * 8 * 2 * 9);
  EXPECT_EQ(t.rows()[0].params, 8 * 2 * 9);
  Linear fc(10, 4);
  ShapeTrace t2;
  t2.child("fc", fc, {3, 10});
  EXPECT_EQ(t2.rows()[0].macs, 3 * 10 * 4);
}
