// ResNet construction, init and forward (see resnet.h).
#include "nets/resnet.h"

#include "nets/init.h"

namespace dybat {

ResNet::ResNet(BlockType block, std::array<int, 4> layers, int num_classes, Generator& g) : Layer("ResNet") {
  DYBAT_CHECK(num_classes > 0, "ResNet: num_classes must be positive, got ", num_classes);
  conv1 = register_module("conv1", std::make_shared<Conv2d>(3, 64, 7, 2));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64, Act::ReLU));
  maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));

  const int64_t expansion = block == BlockType::Basic ? BasicBlock::kExpansion : Bottleneck::kExpansion;
  int64_t in = 64;
  for (int s = 0; s < 4; ++s) {
    const int64_t planes = int64_t(64) << s;
    auto stage = std::make_shared<Sequential>();
    for (int b = 0; b < layers[s]; ++b) {
      const int stride = (b == 0 && s > 0) ? 2 : 1;  // block 0 carries the stage stride
      if (block == BlockType::Basic)
        stage->add(std::make_shared<BasicBlock>(in, planes, stride));
      else
        stage->add(std::make_shared<Bottleneck>(in, planes, stride));
      in = planes * expansion;
    }
    stages[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  global_pool = register_module("global_pool", std::make_shared<GlobalAvgPool2d>(true));
  fc = register_module("fc", std::make_shared<Linear>(in, num_classes));

  init_resnet(*this, g);
  // zero_init_last: the last BN of every residual branch starts at gamma = 0, so each block
  // begins as the identity (plus its shortcut).
  for (auto& stage : stages)
    for (auto& [name, m] : stage->children()) {
      if (auto* b = dynamic_cast<BasicBlock*>(m.get())) b->last_bn()->weight.zero_();
      if (auto* b = dynamic_cast<Bottleneck*>(m.get())) b->last_bn()->weight.zero_();
    }
}

Tensor ResNet::forward(const Tensor& x) {
  check_nchw(x.shape(), 3, "ResNet");
  Tensor y = maxpool->forward(bn1->forward(conv1->forward(x)));
  for (auto& stage : stages) y = stage->forward(y);
  return fc->forward(global_pool->forward(y));
}

Shape ResNet::trace(const Shape& in, ShapeTrace& t) const {
  check_nchw(in, 3, "ResNet");
  Shape y = t.child("conv1", *conv1, in);
  y = t.child("bn1", *bn1, y);
  y = t.child("maxpool", *maxpool, y);
  for (int s = 0; s < 4; ++s) y = t.child("layer" + std::to_string(s + 1), *stages[s], y);
  y = t.child("global_pool", *global_pool, y);
  return t.child("fc", *fc, y);
}

std::shared_ptr<ResNet> make_resnet18(int num_classes, Generator& g) {
  return std::make_shared<ResNet>(ResNet::BlockType::Basic, std::array<int, 4>{2, 2, 2, 2}, num_classes, g);
}

std::shared_ptr<ResNet> make_resnet50(int num_classes, Generator& g) {
  return std::make_shared<ResNet>(ResNet::BlockType::Bottleneck, std::array<int, 4>{3, 4, 6, 3}, num_classes, g);
}

}  // namespace dybat
