// EfficientNet / MobileNetV3 stage builder (see mbconv_builder.h).
#include "nets/mbconv_builder.h"

#include <cmath>

namespace dybat {

int64_t round_channels(int64_t c, double width) {
  return width == 1.0 ? c : make_divisible(static_cast<double>(c) * width);
}

namespace {

// timm's _scale_stage_depth (ceil mode): the stage's total repeats are scaled and rounded up,
// then handed back to the specs from the last one first, so the earlier specs keep their share.
std::vector<int> scale_depth(const StageSpec& stage, double depth) {
  int total = 0;
  for (auto& b : stage) total += b.repeats;
  int scaled = std::max(1, static_cast<int>(std::ceil(total * depth)));
  std::vector<int> out(stage.size());
  for (size_t i = stage.size(); i-- > 0;) {
    int r = stage[i].repeats;
    int rs = std::max(1, static_cast<int>(std::nearbyint(static_cast<double>(r) / total * scaled)));
    out[i] = rs;
    total -= r;
    scaled -= rs;
  }
  return out;
}

SqueezeExciteConfig se_config(const BlockSpec& b, int64_t mid, Act act, SeStyle style) {
  SqueezeExciteConfig cfg;
  if (!b.se) return cfg;
  if (style == SeStyle::EfficientNet) {
    // Width from the block input: ratio 0.25 / exp applied to the mid channels. Python's round
    // (ties to even) never meets a tie here because every width is a multiple of 8.
    cfg.rd = static_cast<int64_t>(std::nearbyint(static_cast<double>(mid) * (0.25 / b.exp)));
    cfg.act = act;
    cfg.gate = Act::Sigmoid;
  } else {
    cfg.rd = make_divisible(static_cast<double>(mid) * 0.25);
    cfg.act = Act::ReLU;
    cfg.gate = Act::HardSigmoid;
  }
  return cfg;
}

}  // namespace

std::shared_ptr<Sequential> build_blocks(const std::vector<StageSpec>& stages, int64_t in_channels,
                                         const BuilderOptions& opt, int64_t& out_channels) {
  auto blocks = std::make_shared<Sequential>();
  int64_t in = in_channels;
  for (const auto& stage_spec : stages) {
    auto stage = std::make_shared<Sequential>();
    std::vector<int> repeats = scale_depth(stage_spec, opt.depth);
    for (size_t si = 0; si < stage_spec.size(); ++si) {
      const BlockSpec& b = stage_spec[si];
      const int64_t out = round_channels(b.out, opt.width);
      const Act act = b.act == Act::None ? opt.act : b.act;
      for (int r = 0; r < repeats[si]; ++r) {
        const int stride = r == 0 ? b.stride : 1;
        const bool natural_skip = stride == 1 && in == out;
        switch (b.kind) {
          case BlockKind::CN:
            stage->add(std::make_shared<ConvBnAct>(in, out, b.kernel, stride, act, b.skip && natural_skip));
            break;
          case BlockKind::DS:
            stage->add(std::make_shared<DepthwiseSeparable>(in, out, b.kernel, stride, act,
                                                            se_config(b, in, act, opt.se_style), natural_skip));
            break;
          case BlockKind::IR: {
            const int64_t mid = make_divisible(static_cast<double>(in) * b.exp);
            stage->add(std::make_shared<InvertedResidual>(in, mid, out, b.kernel, stride, act,
                                                          se_config(b, mid, act, opt.se_style), natural_skip));
            break;
          }
          case BlockKind::ER: {
            const int64_t mid = make_divisible(static_cast<double>(in) * b.exp);
            stage->add(std::make_shared<EdgeResidual>(in, mid, out, b.kernel, stride, act,
                                                      se_config(b, mid, act, opt.se_style), natural_skip));
            break;
          }
        }
        in = out;
      }
    }
    blocks->add(stage);
  }
  out_channels = in;
  return blocks;
}

}  // namespace dybat
