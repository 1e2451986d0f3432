// Linear layer (see linear.h).
#include "layers/linear.h"

#include "kernels/cast.h"
#include "kernels/matmul.h"
#include "layers/precision.h"

namespace dybat {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : Layer("Linear"), in_(in_features), out_(out_features) {
  DYBAT_CHECK(in_features > 0 && out_features > 0, "Linear(", in_features, ", ", out_features,
              "): sizes must be positive");
  weight = register_parameter("weight", Tensor::zeros({out_features, in_features}));
  if (bias) this->bias = register_parameter("bias", Tensor::zeros({out_features}));
}

Tensor Linear::forward(const Tensor& x) {
  DYBAT_CHECK(x.dim() == 2 && x.size(1) == in_, "Linear(", in_, " -> ", out_, "): expected an [N, ", in_,
              "] input, got ", shape_str(x.shape()));
  if (!bf16_) return linear(x, weight, bias);
  // Mixed precision, as Conv2d: bf16 operands, float32 accumulation in cuBLAS, output in x's dtype.
  Tensor y = linear(to_bf16(x), to_bf16(weight), bias.defined() ? to_bf16(bias) : Tensor());
  return cast(y, x.dtype());
}

void Linear::set_compute_dtype(DType d) { bf16_ = check_compute_dtype(d, "Linear") == DType::BFloat16; }

Shape Linear::trace(const Shape& in, ShapeTrace& t) const {
  DYBAT_CHECK(in.size() == 2 && in[1] == in_, "Linear(", in_, " -> ", out_, "): expected an [N, ", in_, "] input, got ",
              shape_str(in));
  Shape out = {in[0], out_};
  t.leaf(*this, out, in[0] * in_ * out_);
  return out;
}

}  // namespace dybat
