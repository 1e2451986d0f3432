// timm's ResNet (resnet18: BasicBlock 2-2-2-2; resnet50: Bottleneck 3-4-6-3), docs/nets.md sections 2-3.
#pragma once

#include <array>
#include <memory>

#include "core/philox.h"
#include "layers/linear.h"
#include "layers/pool.h"
#include "layers/resnet_blocks.h"

namespace dybat {

class ResNet : public Layer {
 public:
  enum class BlockType { Basic, Bottleneck };
  // Builds and initialises the net (timm's init_weights with zero_init_last).
  ResNet(BlockType block, std::array<int, 4> layers, int num_classes, Generator& g);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;

  // Stem: conv1 7x7/2 -> bn1 (+ReLU, timm's act1 fused) -> maxpool 3/2/1.
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<MaxPool2d> maxpool;
  std::array<std::shared_ptr<Sequential>, 4> stages;  // layer1..layer4
  std::shared_ptr<GlobalAvgPool2d> global_pool;
  std::shared_ptr<Linear> fc;
};

std::shared_ptr<ResNet> make_resnet18(int num_classes, Generator& g);
std::shared_ptr<ResNet> make_resnet50(int num_classes, Generator& g);

}  // namespace dybat
