// Activation and Flatten layers (see activation.h).
#include "layers/activation.h"

#include "kernels/activation.h"

namespace dybat {

const char* act_module_name(Act a) {
  switch (a) {
    case Act::None:
      return "Identity";
    case Act::ReLU:
      return "ReLU";
    case Act::ReLU6:
      return "ReLU6";
    case Act::Sigmoid:
      return "Sigmoid";
    case Act::SiLU:
      return "SiLU";
    case Act::HardSigmoid:
      return "Hardsigmoid";
    case Act::HardSwish:
      return "Hardswish";
  }
  return "?";
}

Tensor Activation::forward(const Tensor& x) { return act_ == Act::None ? x : activation(x, act_); }

Shape Activation::trace(const Shape& in, ShapeTrace& t) const {
  t.leaf(*this, in, 0);
  return in;
}

Shape Flatten::trace(const Shape& in, ShapeTrace& t) const {
  DYBAT_CHECK(in.size() >= 2, "Flatten: expected at least 2 dims, got ", shape_str(in));
  int64_t n = 1;
  for (size_t d = 1; d < in.size(); ++d) n *= in[d];
  Shape out = {in[0], n};
  t.leaf(*this, out, 0);
  return out;
}

}  // namespace dybat
