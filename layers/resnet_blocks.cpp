// BasicBlock, Bottleneck and their downsample shortcut (see resnet_blocks.h).
#include "layers/resnet_blocks.h"

namespace dybat {

Downsample::Downsample(int64_t in_channels, int64_t out_channels, int stride) : Layer("Sequential") {
  conv = register_module("0", std::make_shared<Conv2d>(in_channels, out_channels, 1, stride));
  bn = register_module("1", std::make_shared<BatchNorm2d>(out_channels));
}

Tensor Downsample::forward(const Tensor& x) { return bn->forward(conv->forward(x)); }

Shape Downsample::trace(const Shape& in, ShapeTrace& t) const { return t.child("1", *bn, t.child("0", *conv, in)); }

BasicBlock::BasicBlock(int64_t in_channels, int64_t planes, int stride) : Layer("BasicBlock") {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, planes, 3, stride));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes, Act::ReLU));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes, Act::ReLU));  // relu after the add
  if (stride != 1 || in_channels != planes * kExpansion)
    downsample = register_module("downsample", std::make_shared<Downsample>(in_channels, planes * kExpansion, stride));
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor y = bn1->forward(conv1->forward(x));
  y = conv2->forward(y);
  return bn2->forward(y, downsample ? downsample->forward(x) : x);
}

Shape BasicBlock::trace(const Shape& in, ShapeTrace& t) const {
  Shape y = t.child("bn1", *bn1, t.child("conv1", *conv1, in));
  y = t.child("bn2", *bn2, t.child("conv2", *conv2, y));
  Shape sc = downsample ? t.child("downsample", *downsample, in) : in;
  DYBAT_CHECK(sc == y, "BasicBlock: shortcut ", shape_str(sc), " does not match the residual branch ", shape_str(y));
  return y;
}

Bottleneck::Bottleneck(int64_t in_channels, int64_t planes, int stride) : Layer("Bottleneck") {
  const int64_t out = planes * kExpansion;
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, planes, 1, 1));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes, Act::ReLU));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, stride));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes, Act::ReLU));
  conv3 = register_module("conv3", std::make_shared<Conv2d>(planes, out, 1, 1));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(out, Act::ReLU));  // relu after the add
  if (stride != 1 || in_channels != out)
    downsample = register_module("downsample", std::make_shared<Downsample>(in_channels, out, stride));
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor y = bn1->forward(conv1->forward(x));
  y = bn2->forward(conv2->forward(y));
  y = conv3->forward(y);
  return bn3->forward(y, downsample ? downsample->forward(x) : x);
}

Shape Bottleneck::trace(const Shape& in, ShapeTrace& t) const {
  Shape y = t.child("bn1", *bn1, t.child("conv1", *conv1, in));
  y = t.child("bn2", *bn2, t.child("conv2", *conv2, y));
  y = t.child("bn3", *bn3, t.child("conv3", *conv3, y));
  Shape sc = downsample ? t.child("downsample", *downsample, in) : in;
  DYBAT_CHECK(sc == y, "Bottleneck: shortcut ", shape_str(sc), " does not match the residual branch ", shape_str(y));
  return y;
}

}  // namespace dybat
