// The stage builder shared by timm's EfficientNet and MobileNetV3 classes: turns a per-stage list
// of block specs into `blocks` (a Sequential of stages, each a Sequential of blocks), applying
// the width and depth multipliers, the expansion and squeeze-excite rounding, and the skip rules
// exactly as timm's EfficientNetBuilder does (docs/nets.md section 4).
#pragma once

#include <memory>
#include <vector>

#include "layers/mobile_blocks.h"

namespace dybat {

enum class BlockKind { DS, IR, ER, CN };

// One entry of a stage: `repeats` blocks of one kind. Only the first block carries the stride.
struct BlockSpec {
  BlockKind kind;
  int repeats = 1;
  int kernel = 3;
  int stride = 1;
  double exp = 1.0;     // expansion ratio (IR, ER)
  int64_t out = 0;      // output channels before width scaling
  bool se = false;      // squeeze-excite with ratio 0.25
  bool skip = false;    // CN only: timm's explicit 'skip' flag
  Act act = Act::None;  // None: the model's default activation
};
using StageSpec = std::vector<BlockSpec>;

// How squeeze-excite widths and activations are chosen (see SqueezeExciteConfig).
enum class SeStyle { EfficientNet, MobileNetV3 };

struct BuilderOptions {
  double width = 1.0;  // channel multiplier: make_divisible(c * width)
  double depth = 1.0;  // depth multiplier: ceil over each stage, distributed like timm
  Act act = Act::SiLU;
  SeStyle se_style = SeStyle::EfficientNet;
};

// Channels after width scaling.
int64_t round_channels(int64_t c, double width);

// Builds the blocks from `in_channels`; `out_channels` receives the last block's width.
std::shared_ptr<Sequential> build_blocks(const std::vector<StageSpec>& stages, int64_t in_channels,
                                         const BuilderOptions& opt, int64_t& out_channels);

}  // namespace dybat
