// timm's construction-time initialisation rules, drawn from a Philox generator (docs/nets.md section 10).
//
// Each tensor that gets random values draws one stream from the generator, in state_dict order,
// so a seed gives the same net on every machine and device.
#pragma once

#include "core/philox.h"
#include "layers/module.h"

namespace dybat {

// ResNet: every Conv2d kaiming-normal with fan_out = C_out*k*k (std sqrt(2/fan_out)); every
// Linear at PyTorch's default, weight and bias U(+-1/sqrt(fan_in)). BN stays gamma 1, beta 0.
void init_resnet(Module& net, Generator& g);

// timm's "goog" init (EfficientNet, MobileNetV3): Conv2d N(0, sqrt(2/fan_out)) with
// fan_out = k*k*C_out/groups, conv bias 0; Linear weight U(+-1/sqrt(out_features)), bias 0.
void init_goog(Module& net, Generator& g);

}  // namespace dybat
