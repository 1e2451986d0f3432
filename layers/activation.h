// Activation layers (ReLU, SiLU, Sigmoid, Hardswish, Hardsigmoid, ...) and Flatten. They own no
// parameters and emit no state_dict keys, like their PyTorch counterparts.
#pragma once

#include "kernels/activation_math.h"
#include "layers/layer.h"

namespace dybat {

// PyTorch's module name for an activation ("ReLU", "SiLU", "Hardswish", ...; "Identity" for None).
const char* act_module_name(Act a);

class Activation : public Layer {
 public:
  explicit Activation(Act act) : Layer(act_module_name(act)), act_(act) {}
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  Act act() const { return act_; }

 private:
  Act act_;
};

// [N, C, H, W, ...] -> [N, C*H*W*...], as torch.nn.Flatten().
class Flatten : public Layer {
 public:
  Flatten() : Layer("Flatten") {}
  Tensor forward(const Tensor& x) override { return x.flatten(1); }
  Shape trace(const Shape& in, ShapeTrace& t) const override;
};

}  // namespace dybat
