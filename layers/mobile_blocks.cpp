// EfficientNet / MobileNetV3 blocks (see mobile_blocks.h).
#include "layers/mobile_blocks.h"

#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace dybat {

namespace {
void check_skip(bool skip, int64_t in, int64_t out, int stride, const char* block) {
  DYBAT_CHECK(!skip || (in == out && stride == 1), block, ": a skip needs stride 1 and in == out channels, got ", in,
              " -> ", out, " with stride ", stride);
}

std::shared_ptr<SqueezeExcite> make_se(Module& parent, int64_t channels, const SqueezeExciteConfig& cfg) {
  if (cfg.rd <= 0) return nullptr;
  return parent.register_module("se", std::make_shared<SqueezeExcite>(channels, cfg));
}

Shape trace_se(ShapeTrace& t, const std::shared_ptr<SqueezeExcite>& se, const Shape& in) {
  return se ? t.child("se", *se, in) : in;
}

void check_same(const Shape& a, const Shape& b, const char* block) {
  DYBAT_CHECK(a == b, block, ": skip input ", shape_str(a), " does not match the block output ", shape_str(b));
}
}  // namespace

int64_t make_divisible(double v, int64_t divisor) {
  auto r = static_cast<int64_t>(std::floor(v + divisor / 2.0)) / divisor * divisor;
  r = std::max(divisor, r);
  if (static_cast<double>(r) < 0.9 * v) r += divisor;
  return r;
}

// ---- SqueezeExcite ------------------------------------------------------------------------------

SqueezeExcite::SqueezeExcite(int64_t channels, const SqueezeExciteConfig& cfg) : Layer("SqueezeExcite") {
  DYBAT_CHECK(cfg.rd > 0, "SqueezeExcite: reduced width must be positive, got ", cfg.rd);
  conv_reduce = register_module("conv_reduce", std::make_shared<Conv2d>(channels, cfg.rd, 1, 1, 1, true));
  act1 = register_module("act1", std::make_shared<Activation>(cfg.act));
  conv_expand = register_module("conv_expand", std::make_shared<Conv2d>(cfg.rd, channels, 1, 1, 1, true));
  gate = register_module("gate", std::make_shared<Activation>(cfg.gate));
}

Tensor SqueezeExcite::forward(const Tensor& x) {
  Tensor s = mean(x, {2, 3}, true);  // [N, C, 1, 1]
  s = gate->forward(conv_expand->forward(act1->forward(conv_reduce->forward(s))));
  return x * s;  // broadcast over H, W
}

Shape SqueezeExcite::trace(const Shape& in, ShapeTrace& t) const {
  check_nchw(in, conv_reduce->in_channels(), "SqueezeExcite");
  Shape s = {in[0], in[1], 1, 1};
  s = t.child("conv_reduce", *conv_reduce, s);
  s = t.child("act1", *act1, s);
  s = t.child("conv_expand", *conv_expand, s);
  t.child("gate", *gate, s);
  return in;
}

// ---- ConvBnAct ----------------------------------------------------------------------------------

ConvBnAct::ConvBnAct(int64_t in, int64_t out, int kernel, int stride, Act act, bool skip)
    : Layer("ConvBnAct"), skip_(skip) {
  check_skip(skip, in, out, stride, "ConvBnAct");
  conv = register_module("conv", std::make_shared<Conv2d>(in, out, kernel, stride));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out, act));
}

Tensor ConvBnAct::forward(const Tensor& x) {
  Tensor y = bn1->forward(conv->forward(x));
  return skip_ ? y + x : y;  // the activation comes before the add, so the add is separate
}

Shape ConvBnAct::trace(const Shape& in, ShapeTrace& t) const {
  Shape y = t.child("bn1", *bn1, t.child("conv", *conv, in));
  if (skip_) check_same(in, y, "ConvBnAct");
  return y;
}

// ---- DepthwiseSeparable -------------------------------------------------------------------------

DepthwiseSeparable::DepthwiseSeparable(int64_t in, int64_t out, int kernel, int stride, Act act,
                                       const SqueezeExciteConfig& se_cfg, bool skip)
    : Layer("DepthwiseSeparableConv"), skip_(skip) {
  check_skip(skip, in, out, stride, "DepthwiseSeparable");
  conv_dw = register_module("conv_dw", std::make_shared<Conv2d>(in, in, kernel, stride, in));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in, act));
  se = make_se(*this, in, se_cfg);
  conv_pw = register_module("conv_pw", std::make_shared<Conv2d>(in, out, 1, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
}

Tensor DepthwiseSeparable::forward(const Tensor& x) {
  Tensor y = bn1->forward(conv_dw->forward(x));
  if (se) y = se->forward(y);
  y = conv_pw->forward(y);
  return skip_ ? bn2->forward(y, x) : bn2->forward(y);
}

Shape DepthwiseSeparable::trace(const Shape& in, ShapeTrace& t) const {
  Shape y = t.child("bn1", *bn1, t.child("conv_dw", *conv_dw, in));
  y = trace_se(t, se, y);
  y = t.child("bn2", *bn2, t.child("conv_pw", *conv_pw, y));
  if (skip_) check_same(in, y, "DepthwiseSeparable");
  return y;
}

// ---- InvertedResidual ---------------------------------------------------------------------------

InvertedResidual::InvertedResidual(int64_t in, int64_t mid, int64_t out, int kernel, int stride, Act act,
                                   const SqueezeExciteConfig& se_cfg, bool skip)
    : Layer("InvertedResidual"), skip_(skip) {
  check_skip(skip, in, out, stride, "InvertedResidual");
  conv_pw = register_module("conv_pw", std::make_shared<Conv2d>(in, mid, 1, 1));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(mid, act));
  conv_dw = register_module("conv_dw", std::make_shared<Conv2d>(mid, mid, kernel, stride, mid));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(mid, act));
  se = make_se(*this, mid, se_cfg);
  conv_pwl = register_module("conv_pwl", std::make_shared<Conv2d>(mid, out, 1, 1));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(out));
}

Tensor InvertedResidual::forward(const Tensor& x) {
  Tensor y = bn1->forward(conv_pw->forward(x));
  y = bn2->forward(conv_dw->forward(y));
  if (se) y = se->forward(y);
  y = conv_pwl->forward(y);
  return skip_ ? bn3->forward(y, x) : bn3->forward(y);
}

Shape InvertedResidual::trace(const Shape& in, ShapeTrace& t) const {
  Shape y = t.child("bn1", *bn1, t.child("conv_pw", *conv_pw, in));
  y = t.child("bn2", *bn2, t.child("conv_dw", *conv_dw, y));
  y = trace_se(t, se, y);
  y = t.child("bn3", *bn3, t.child("conv_pwl", *conv_pwl, y));
  if (skip_) check_same(in, y, "InvertedResidual");
  return y;
}

// ---- EdgeResidual -------------------------------------------------------------------------------

EdgeResidual::EdgeResidual(int64_t in, int64_t mid, int64_t out, int kernel, int stride, Act act,
                           const SqueezeExciteConfig& se_cfg, bool skip)
    : Layer("EdgeResidual"), skip_(skip) {
  check_skip(skip, in, out, stride, "EdgeResidual");
  conv_exp = register_module("conv_exp", std::make_shared<Conv2d>(in, mid, kernel, stride));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(mid, act));
  se = make_se(*this, mid, se_cfg);
  conv_pwl = register_module("conv_pwl", std::make_shared<Conv2d>(mid, out, 1, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
}

Tensor EdgeResidual::forward(const Tensor& x) {
  Tensor y = bn1->forward(conv_exp->forward(x));
  if (se) y = se->forward(y);
  y = conv_pwl->forward(y);
  return skip_ ? bn2->forward(y, x) : bn2->forward(y);
}

Shape EdgeResidual::trace(const Shape& in, ShapeTrace& t) const {
  Shape y = t.child("bn1", *bn1, t.child("conv_exp", *conv_exp, in));
  y = trace_se(t, se, y);
  y = t.child("bn2", *bn2, t.child("conv_pwl", *conv_pwl, y));
  if (skip_) check_same(in, y, "EdgeResidual");
  return y;
}

}  // namespace dybat
