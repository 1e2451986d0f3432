// A small net the mixed-precision tests share (tests/layers/precision_test.cpp,
// tests/cuda/precision_cuda_test.cpp): conv -> BN+ReLU -> conv (with bias) -> global average pool
// -> linear, with fixed uniform weights.
#pragma once

#include <memory>

#include "core/tensor.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/norm.h"
#include "layers/pool.h"

namespace dybat::test {

struct SmallPrecisionNet : Sequential {
  SmallPrecisionNet() {
    conv1 = add(std::make_shared<Conv2d>(3, 16, 3));
    bn = add(std::make_shared<BatchNorm2d>(16, Act::ReLU));
    conv2 = add(std::make_shared<Conv2d>(16, 24, 3, 2, 1, /*bias=*/true));
    add(std::make_shared<GlobalAvgPool2d>());
    fc = add(std::make_shared<Linear>(24, 10));
    Generator g(5);
    for (auto& [name, p] : named_parameters()) p.copy_(Tensor::uniform(p.shape(), -0.5, 0.5, g));
  }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn;
  std::shared_ptr<Linear> fc;
};

}  // namespace dybat::test
