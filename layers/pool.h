// Pooling layers: MaxPool2d (the ResNet stem's 3/2/1) and global average pooling (timm's
// SelectAdaptivePool2d('avg'), with or without the flatten).
#pragma once

#include "kernels/pool.h"
#include "layers/layer.h"

namespace dybat {

class MaxPool2d : public Layer {
 public:
  MaxPool2d(int kernel, int stride, int padding);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;

 private:
  Pool2dParams p_;
};

// Mean over H and W: [N, C, H, W] -> [N, C] when flattening, else [N, C, 1, 1].
class GlobalAvgPool2d : public Layer {
 public:
  explicit GlobalAvgPool2d(bool flatten = true) : Layer("GlobalAvgPool2d"), flatten_(flatten) {}
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;

 private:
  bool flatten_;
};

}  // namespace dybat
