// The residual and mobile blocks: key order, skip rules, the math of each block against the
// plain ops composed by hand, traced shapes, and a float64 gradient check over the input and
// every parameter (train and eval modes).
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "layers/mobile_blocks.h"
#include "layers/resnet_blocks.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {

// Random float64 parameters and running statistics, away from the trivial init.
void randomize(Module& m, uint64_t seed) {
  m.to(DType::Float64);
  Generator g(seed);
  for (auto& [name, t] : m.state_dict()) {
    if (!is_floating(t.dtype())) continue;
    Tensor h = t;
    if (name.ends_with("running_var"))
      h.copy_(Tensor::uniform(t.shape(), 0.5, 1.5, g, DType::Float64));
    else if (name.ends_with("bn1.weight") || name.ends_with("bn2.weight") || name.ends_with("bn3.weight") ||
             name.ends_with("1.weight"))
      h.copy_(Tensor::uniform(t.shape(), 0.5, 1.5, g, DType::Float64));
    else
      h.copy_(Tensor::uniform(t.shape(), -0.5, 0.5, g, DType::Float64));
  }
}

std::vector<std::string> names(const Module& m) {
  std::vector<std::string> out;
  for (auto& [n, t] : m.named_parameters()) out.push_back(n);
  return out;
}

// Gradient check over the input and every parameter, in train mode and in eval mode.
void check_gradients(Layer& block, const Shape& in_shape, uint64_t seed) {
  for (Mode mode : {Mode::Train, Mode::Eval}) {
    block.set_mode(mode);
    std::vector<Tensor> inputs = {rand(in_shape, seed, -1, 1, true)};
    for (Tensor p : block.parameters()) inputs.push_back(p);
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return block.forward(in[0]); }, inputs);
  }
  block.train();
}

Shape traced(const Module& m, const Shape& in) {
  ShapeTrace t;
  return t.child("b", m, in);
}

}  // namespace

TEST(ResNetBlocks, BasicBlockKeysDownsampleAndMath) {
  BasicBlock plain(8, 8, 1), down(8, 16, 2);
  EXPECT_FALSE(plain.downsample);
  ASSERT_TRUE(down.downsample);
  EXPECT_EQ(names(down),
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight",
                                      "bn2.bias", "downsample.0.weight", "downsample.1.weight", "downsample.1.bias"}));
  randomize(down, 1);
  Tensor x = rand({2, 8, 6, 6}, 2);
  // relu(bn2(conv2(relu(bn1(conv1 x)))) + bn(conv1x1 x)), composed from the layers one by one.
  down.eval();
  Tensor y = down.conv2->forward(down.bn1->forward(down.conv1->forward(x)));
  Tensor sc = down.downsample->bn->forward(down.downsample->conv->forward(x));
  BatchNorm2d linear_bn2(16);
  linear_bn2.to(DType::Float64);
  for (size_t i = 0; i < 4; ++i) linear_bn2.state_dict()[i].second.copy_(down.bn2->state_dict()[i].second);
  linear_bn2.eval();
  Tensor expected = relu(linear_bn2.forward(y) + sc);
  EXPECT_LE(max_abs_diff(down.forward(x), expected), 1e-12);
  EXPECT_EQ(traced(down, x.shape()), (Shape{2, 16, 3, 3}));
  BasicBlock small_down(4, 6, 2), small(4, 4, 1);
  randomize(small_down, 3);
  check_gradients(small_down, {2, 4, 5, 5}, 3);
  randomize(small, 4);
  check_gradients(small, {2, 4, 4, 4}, 5);
}

TEST(ResNetBlocks, BottleneckExpandsFourTimesWithStrideOnThe3x3) {
  Bottleneck b(8, 4, 2);
  EXPECT_EQ(b.conv1->params().stride_h, 1);
  EXPECT_EQ(b.conv2->params().stride_h, 2);
  EXPECT_EQ(b.conv3->out_channels(), 16);
  ASSERT_TRUE(b.downsample);
  EXPECT_FALSE(Bottleneck(16, 4, 1).downsample);
  EXPECT_TRUE(Bottleneck(8, 4, 1).downsample) << "64 -> 256 in resnet50's layer1 needs one too";
  randomize(b, 6);
  Tensor x = rand({2, 8, 7, 7}, 7);
  EXPECT_EQ(b.forward(x).shape(), traced(b, x.shape()));
  Bottleneck small(4, 2, 2);
  randomize(small, 8);
  check_gradients(small, {2, 4, 5, 5}, 8);
}

TEST(MobileBlocks, SqueezeExciteMathBothStyles) {
  for (auto cfg :
       {SqueezeExciteConfig{3, Act::SiLU, Act::Sigmoid}, SqueezeExciteConfig{8, Act::ReLU, Act::HardSigmoid}}) {
    SqueezeExcite se(12, cfg);
    EXPECT_EQ(names(se), (std::vector<std::string>{"conv_reduce.weight", "conv_reduce.bias", "conv_expand.weight",
                                                   "conv_expand.bias"}));
    EXPECT_EQ(se.conv_reduce->weight.shape(), (Shape{cfg.rd, 12, 1, 1}));
    randomize(se, 9);
    Tensor x = rand({2, 12, 3, 4}, 10);
    Tensor s = mean(x, {2, 3}, true);
    s = se.conv_reduce->forward(s);
    s = activation(s, cfg.act);
    s = activation(se.conv_expand->forward(s), cfg.gate);
    EXPECT_LE(max_abs_diff(se.forward(x), x * s), 1e-14);
    EXPECT_EQ(traced(se, x.shape()), x.shape());
    check_gradients(se, {2, 12, 3, 3}, 11);
  }
}

TEST(MobileBlocks, InvertedResidualKeysSkipAndGradients) {
  SqueezeExciteConfig se{4, Act::SiLU, Act::Sigmoid};
  InvertedResidual ir(8, 24, 8, 3, 1, Act::SiLU, se, true);
  EXPECT_EQ(names(ir), (std::vector<std::string>{"conv_pw.weight", "bn1.weight", "bn1.bias", "conv_dw.weight",
                                                 "bn2.weight", "bn2.bias", "se.conv_reduce.weight",
                                                 "se.conv_reduce.bias", "se.conv_expand.weight", "se.conv_expand.bias",
                                                 "conv_pwl.weight", "bn3.weight", "bn3.bias"}));
  EXPECT_EQ(ir.conv_dw->weight.shape(), (Shape{24, 1, 3, 3}));
  EXPECT_EQ(ir.bn3->act(), Act::None) << "linear bottleneck";
  randomize(ir, 12);
  // With bn3's gamma and beta at 0 the branch vanishes and the skip returns x exactly.
  ir.eval();
  ir.bn3->weight.zero_();
  ir.bn3->bias.zero_();
  Tensor x = rand({2, 8, 5, 5}, 13);
  EXPECT_LE(max_abs_diff(ir.forward(x), x), 0.0);
  randomize(ir, 14);
  check_gradients(ir, {2, 8, 4, 4}, 15);
  // No skip across a stride or a width change.
  EXPECT_THROW(InvertedResidual(8, 24, 16, 3, 1, Act::SiLU, se, true), Error);
  InvertedResidual down(8, 24, 16, 5, 2, Act::HardSwish, SqueezeExciteConfig{}, false);
  EXPECT_FALSE(down.se);
  randomize(down, 16);
  EXPECT_EQ(traced(down, {2, 8, 7, 7}), (Shape{2, 16, 4, 4}));
  EXPECT_EQ(down.forward(rand({2, 8, 7, 7}, 17)).shape(), (Shape{2, 16, 4, 4}));
  check_gradients(down, {2, 8, 5, 5}, 18);
}

TEST(MobileBlocks, DepthwiseSeparableEdgeResidualConvBnAct) {
  DepthwiseSeparable ds(8, 8, 3, 1, Act::ReLU, SqueezeExciteConfig{8, Act::ReLU, Act::HardSigmoid}, true);
  EXPECT_EQ(names(ds).front(), "conv_dw.weight");
  EXPECT_EQ(names(ds)[3], "se.conv_reduce.weight") << "SE sits between bn1 and conv_pw";
  EXPECT_EQ(names(ds).back(), "bn2.bias");
  randomize(ds, 19);
  check_gradients(ds, {2, 8, 4, 4}, 20);

  EdgeResidual er(8, 32, 8, 3, 1, Act::SiLU, SqueezeExciteConfig{}, true);
  EXPECT_EQ(names(er), (std::vector<std::string>{"conv_exp.weight", "bn1.weight", "bn1.bias", "conv_pwl.weight",
                                                 "bn2.weight", "bn2.bias"}));
  EXPECT_EQ(er.conv_exp->weight.shape(), (Shape{32, 8, 3, 3})) << "a full (groups 1) conv";
  randomize(er, 21);
  check_gradients(er, {2, 8, 4, 4}, 22);

  // CN with skip: the activation comes before the add.
  ConvBnAct cn(8, 8, 3, 1, Act::SiLU, true);
  randomize(cn, 23);
  cn.eval();
  Tensor x = rand({2, 8, 4, 4}, 24);
  EXPECT_LE(max_abs_diff(cn.forward(x), cn.bn1->forward(cn.conv->forward(x)) + x), 0.0);
  check_gradients(cn, {2, 8, 4, 4}, 25);
  ConvBnAct head(8, 24, 1, 1, Act::HardSwish, false);
  EXPECT_EQ(traced(head, {2, 8, 3, 3}), (Shape{2, 24, 3, 3}));
}
