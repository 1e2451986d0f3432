// timm's EfficientNet class (efficientnet_b4, efficientnetv2_s; docs/nets.md sections 5-6) and
// MobileNetV3 class (mobilenetv3_small_100; section 7). Both are built by mbconv_builder.
#pragma once

#include <memory>

#include "core/philox.h"
#include "layers/linear.h"
#include "layers/pool.h"
#include "nets/mbconv_builder.h"

namespace dybat {

// conv_stem -> bn1 (+act) -> blocks -> conv_head 1x1 -> bn2 (+act) -> global_pool -> classifier.
class EfficientNet : public Layer {
 public:
  EfficientNet(const std::vector<StageSpec>& arch, int64_t stem, int64_t head, const BuilderOptions& opt,
               int num_classes, Generator& g);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;

  std::shared_ptr<Conv2d> conv_stem, conv_head;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> blocks;
  std::shared_ptr<GlobalAvgPool2d> global_pool;
  std::shared_ptr<Linear> classifier;
};

// conv_stem -> bn1 (+act) -> blocks -> global_pool (no flatten) -> conv_head 1x1 with bias
// (no BN) -> act2 -> flatten -> classifier: the "efficient head", pooling before conv_head.
class MobileNetV3 : public Layer {
 public:
  MobileNetV3(const std::vector<StageSpec>& arch, int64_t stem, int64_t head, const BuilderOptions& opt,
              int num_classes, Generator& g);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;

  std::shared_ptr<Conv2d> conv_stem, conv_head;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Sequential> blocks;
  std::shared_ptr<GlobalAvgPool2d> global_pool;
  std::shared_ptr<Activation> act2;
  std::shared_ptr<Flatten> flatten;
  std::shared_ptr<Linear> classifier;
};

std::shared_ptr<EfficientNet> make_efficientnet_b4(int num_classes, Generator& g);
std::shared_ptr<EfficientNet> make_efficientnetv2_s(int num_classes, Generator& g);
std::shared_ptr<MobileNetV3> make_mobilenetv3_small_100(int num_classes, Generator& g);

}  // namespace dybat
