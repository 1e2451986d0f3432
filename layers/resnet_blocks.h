// The two residual blocks of timm's ResNet: BasicBlock (two 3x3 convs, resnet18/34) and
// Bottleneck (1x1 - 3x3 - 1x1 with 4x expansion, stride on the 3x3: "ResNet v1.5", resnet50+).
//
// Both end in one fused call out = relu(bn_last(conv_last(y)) + shortcut), where the shortcut is
// x itself, or downsample(x) = BN(conv1x1_stride(x)) when the stride or the width changes.
#pragma once

#include <memory>

#include "layers/conv.h"
#include "layers/norm.h"

namespace dybat {

// downsample.0 (1x1 conv, stride s, no bias) and downsample.1 (BN), as timm names them.
class Downsample : public Layer {
 public:
  Downsample(int64_t in_channels, int64_t out_channels, int stride);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
};

class BasicBlock : public Layer {
 public:
  static constexpr int64_t kExpansion = 1;
  // Downsample iff stride != 1 or in_channels != planes (timm's rule).
  BasicBlock(int64_t in_channels, int64_t planes, int stride);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  // The BN whose gamma timm zero-initialises (zero_init_last).
  const std::shared_ptr<BatchNorm2d>& last_bn() const { return bn2; }

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Downsample> downsample;  // null when the shortcut is x
};

class Bottleneck : public Layer {
 public:
  static constexpr int64_t kExpansion = 4;
  // width = planes (cardinality 1, base width 64); output 4 * planes channels.
  Bottleneck(int64_t in_channels, int64_t planes, int stride);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  const std::shared_ptr<BatchNorm2d>& last_bn() const { return bn3; }

  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Downsample> downsample;
};

}  // namespace dybat
