// The blocks of timm's EfficientNet and MobileNetV3 families: SqueezeExcite, ConvBnAct (CN),
// DepthwiseSeparable (DS), InvertedResidual / MBConv (IR) and EdgeResidual / FusedMBConv (ER).
//
// Children are registered in timm's field order, so the state_dict keys come out as timm's. The
// projection BN of DS/IR/ER is linear; where the block has a skip, out = bn(conv(y)) + x is one
// fused BN call with the residual and no activation. BN + activation is one fused call as in
// timm's BatchNormAct2d.
#pragma once

#include <memory>

#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/norm.h"

namespace dybat {

// Squeeze-excite widths and activations; rd = 0 means no SE.
//   EfficientNet class: rd = round(mid * 0.25 / exp) (= C_in / 4), act SiLU, gate Sigmoid.
//   MobileNetV3 class:  rd = make_divisible(mid / 4), act ReLU, gate Hardsigmoid.
struct SqueezeExciteConfig {
  int64_t rd = 0;
  Act act = Act::ReLU;
  Act gate = Act::Sigmoid;
};

// timm's channel rounding: the nearest multiple of `divisor` (at least `divisor`), bumped up by
// one step if rounding lost more than 10%.
int64_t make_divisible(double v, int64_t divisor = 8);

// out = x * gate(conv_expand(act(conv_reduce(mean_hw(x))))), on C channels.
class SqueezeExcite : public Layer {
 public:
  SqueezeExcite(int64_t channels, const SqueezeExciteConfig& cfg);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  std::shared_ptr<Conv2d> conv_reduce, conv_expand;  // 1x1 with bias
  std::shared_ptr<Activation> act1, gate;
};

// CN: act(bn1(conv(x))) (+ x when skip; the add comes after the activation).
class ConvBnAct : public Layer {
 public:
  ConvBnAct(int64_t in, int64_t out, int kernel, int stride, Act act, bool skip);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  bool has_skip() const { return skip_; }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn1;

 private:
  bool skip_;
};

// DS: bn2(conv_pw(se(act(bn1(conv_dw(x)))))) (+ x when skip).
class DepthwiseSeparable : public Layer {
 public:
  DepthwiseSeparable(int64_t in, int64_t out, int kernel, int stride, Act act, const SqueezeExciteConfig& se,
                     bool skip);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  bool has_skip() const { return skip_; }
  std::shared_ptr<Conv2d> conv_dw, conv_pw;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<SqueezeExcite> se;  // null without SE

 private:
  bool skip_;
};

// IR: bn3(conv_pwl(se(act(bn2(conv_dw(act(bn1(conv_pw(x))))))))) (+ x when skip).
class InvertedResidual : public Layer {
 public:
  InvertedResidual(int64_t in, int64_t mid, int64_t out, int kernel, int stride, Act act, const SqueezeExciteConfig& se,
                   bool skip);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  bool has_skip() const { return skip_; }
  std::shared_ptr<Conv2d> conv_pw, conv_dw, conv_pwl;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<SqueezeExcite> se;

 private:
  bool skip_;
};

// ER: bn2(conv_pwl(se(act(bn1(conv_exp(x)))))) (+ x when skip); conv_exp is a full k x k conv.
class EdgeResidual : public Layer {
 public:
  EdgeResidual(int64_t in, int64_t mid, int64_t out, int kernel, int stride, Act act, const SqueezeExciteConfig& se,
               bool skip);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  bool has_skip() const { return skip_; }
  std::shared_ptr<Conv2d> conv_exp, conv_pwl;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<SqueezeExcite> se;

 private:
  bool skip_;
};

}  // namespace dybat
