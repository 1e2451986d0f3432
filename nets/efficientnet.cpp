// EfficientNet and MobileNetV3: construction, init, forward, and the three architectures.
#include "nets/efficientnet.h"

#include "nets/init.h"

namespace dybat {

// ---- EfficientNet -------------------------------------------------------------------------------

EfficientNet::EfficientNet(const std::vector<StageSpec>& arch, int64_t stem, int64_t head, const BuilderOptions& opt,
                           int num_classes, Generator& g)
    : Layer("EfficientNet") {
  DYBAT_CHECK(num_classes > 0, "EfficientNet: num_classes must be positive, got ", num_classes);
  const int64_t stem_ch = round_channels(stem, opt.width);
  const int64_t head_ch = round_channels(head, opt.width);
  conv_stem = register_module("conv_stem", std::make_shared<Conv2d>(3, stem_ch, 3, 2));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(stem_ch, opt.act));
  int64_t blocks_out = 0;
  blocks = register_module("blocks", build_blocks(arch, stem_ch, opt, blocks_out));
  conv_head = register_module("conv_head", std::make_shared<Conv2d>(blocks_out, head_ch, 1, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(head_ch, opt.act));
  global_pool = register_module("global_pool", std::make_shared<GlobalAvgPool2d>(true));
  classifier = register_module("classifier", std::make_shared<Linear>(head_ch, num_classes));
  init_goog(*this, g);
}

Tensor EfficientNet::forward(const Tensor& x) {
  check_nchw(x.shape(), 3, "EfficientNet");
  Tensor y = bn1->forward(conv_stem->forward(x));
  y = blocks->forward(y);
  y = bn2->forward(conv_head->forward(y));
  return classifier->forward(global_pool->forward(y));
}

Shape EfficientNet::trace(const Shape& in, ShapeTrace& t) const {
  check_nchw(in, 3, "EfficientNet");
  Shape y = t.child("bn1", *bn1, t.child("conv_stem", *conv_stem, in));
  y = t.child("blocks", *blocks, y);
  y = t.child("bn2", *bn2, t.child("conv_head", *conv_head, y));
  return t.child("classifier", *classifier, t.child("global_pool", *global_pool, y));
}

// ---- MobileNetV3 --------------------------------------------------------------------------------

MobileNetV3::MobileNetV3(const std::vector<StageSpec>& arch, int64_t stem, int64_t head, const BuilderOptions& opt,
                         int num_classes, Generator& g)
    : Layer("MobileNetV3") {
  DYBAT_CHECK(num_classes > 0, "MobileNetV3: num_classes must be positive, got ", num_classes);
  const int64_t stem_ch = round_channels(stem, opt.width);
  conv_stem = register_module("conv_stem", std::make_shared<Conv2d>(3, stem_ch, 3, 2));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(stem_ch, opt.act));
  int64_t blocks_out = 0;
  blocks = register_module("blocks", build_blocks(arch, stem_ch, opt, blocks_out));
  global_pool = register_module("global_pool", std::make_shared<GlobalAvgPool2d>(false));
  conv_head = register_module("conv_head", std::make_shared<Conv2d>(blocks_out, head, 1, 1, 1, true));
  act2 = register_module("act2", std::make_shared<Activation>(opt.act));
  flatten = register_module("flatten", std::make_shared<Flatten>());
  classifier = register_module("classifier", std::make_shared<Linear>(head, num_classes));
  init_goog(*this, g);
}

Tensor MobileNetV3::forward(const Tensor& x) {
  check_nchw(x.shape(), 3, "MobileNetV3");
  Tensor y = bn1->forward(conv_stem->forward(x));
  y = blocks->forward(y);
  y = act2->forward(conv_head->forward(global_pool->forward(y)));
  return classifier->forward(flatten->forward(y));
}

Shape MobileNetV3::trace(const Shape& in, ShapeTrace& t) const {
  check_nchw(in, 3, "MobileNetV3");
  Shape y = t.child("bn1", *bn1, t.child("conv_stem", *conv_stem, in));
  y = t.child("blocks", *blocks, y);
  y = t.child("global_pool", *global_pool, y);
  y = t.child("act2", *act2, t.child("conv_head", *conv_head, y));
  return t.child("classifier", *classifier, t.child("flatten", *flatten, y));
}

// ---- The three architectures --------------------------------------------------------------------

namespace {
constexpr BlockKind DS = BlockKind::DS, IR = BlockKind::IR, ER = BlockKind::ER, CN = BlockKind::CN;
}

std::shared_ptr<EfficientNet> make_efficientnet_b4(int num_classes, Generator& g) {
  // EfficientNet-B0's stages, scaled by width 1.4 and depth 1.8 (timm's _gen_efficientnet).
  const std::vector<StageSpec> arch = {
      {{.kind = DS, .repeats = 1, .kernel = 3, .stride = 1, .out = 16, .se = true}},
      {{.kind = IR, .repeats = 2, .kernel = 3, .stride = 2, .exp = 6, .out = 24, .se = true}},
      {{.kind = IR, .repeats = 2, .kernel = 5, .stride = 2, .exp = 6, .out = 40, .se = true}},
      {{.kind = IR, .repeats = 3, .kernel = 3, .stride = 2, .exp = 6, .out = 80, .se = true}},
      {{.kind = IR, .repeats = 3, .kernel = 5, .stride = 1, .exp = 6, .out = 112, .se = true}},
      {{.kind = IR, .repeats = 4, .kernel = 5, .stride = 2, .exp = 6, .out = 192, .se = true}},
      {{.kind = IR, .repeats = 1, .kernel = 3, .stride = 1, .exp = 6, .out = 320, .se = true}},
  };
  BuilderOptions opt{.width = 1.4, .depth = 1.8, .act = Act::SiLU, .se_style = SeStyle::EfficientNet};
  return std::make_shared<EfficientNet>(arch, 32, 1280, opt, num_classes, g);
}

std::shared_ptr<EfficientNet> make_efficientnetv2_s(int num_classes, Generator& g) {
  // The official "v2 small" layout (timm's _gen_efficientnetv2_s, not the _rw variant).
  const std::vector<StageSpec> arch = {
      {{.kind = CN, .repeats = 2, .kernel = 3, .stride = 1, .out = 24, .skip = true}},
      {{.kind = ER, .repeats = 4, .kernel = 3, .stride = 2, .exp = 4, .out = 48}},
      {{.kind = ER, .repeats = 4, .kernel = 3, .stride = 2, .exp = 4, .out = 64}},
      {{.kind = IR, .repeats = 6, .kernel = 3, .stride = 2, .exp = 4, .out = 128, .se = true}},
      {{.kind = IR, .repeats = 9, .kernel = 3, .stride = 1, .exp = 6, .out = 160, .se = true}},
      {{.kind = IR, .repeats = 15, .kernel = 3, .stride = 2, .exp = 6, .out = 256, .se = true}},
  };
  BuilderOptions opt{.width = 1.0, .depth = 1.0, .act = Act::SiLU, .se_style = SeStyle::EfficientNet};
  return std::make_shared<EfficientNet>(arch, 24, 1280, opt, num_classes, g);
}

std::shared_ptr<MobileNetV3> make_mobilenetv3_small_100(int num_classes, Generator& g) {
  // timm's _gen_mobilenet_v3 'small' layout; ReLU where the arch string says 'nre', else Hardswish.
  const Act RE = Act::ReLU;
  const std::vector<StageSpec> arch = {
      {{.kind = DS, .repeats = 1, .kernel = 3, .stride = 2, .out = 16, .se = true, .act = RE}},
      {{.kind = IR, .repeats = 1, .kernel = 3, .stride = 2, .exp = 4.5, .out = 24, .act = RE},
       {.kind = IR, .repeats = 1, .kernel = 3, .stride = 1, .exp = 3.67, .out = 24, .act = RE}},
      {{.kind = IR, .repeats = 1, .kernel = 5, .stride = 2, .exp = 4, .out = 40, .se = true},
       {.kind = IR, .repeats = 2, .kernel = 5, .stride = 1, .exp = 6, .out = 40, .se = true}},
      {{.kind = IR, .repeats = 2, .kernel = 5, .stride = 1, .exp = 3, .out = 48, .se = true}},
      {{.kind = IR, .repeats = 3, .kernel = 5, .stride = 2, .exp = 6, .out = 96, .se = true}},
      {{.kind = CN, .repeats = 1, .kernel = 1, .stride = 1, .out = 576}},
  };
  BuilderOptions opt{.width = 1.0, .depth = 1.0, .act = Act::HardSwish, .se_style = SeStyle::MobileNetV3};
  return std::make_shared<MobileNetV3>(arch, 16, 1024, opt, num_classes, g);
}

}  // namespace dybat
