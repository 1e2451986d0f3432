// Conv2d layer (see conv.h).
#include "layers/conv.h"

#include "kernels/cast.h"
#include "layers/precision.h"

namespace dybat {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int kernel, int stride, int groups, bool bias, int padding)
    : Layer("Conv2d"), in_(in_channels), out_(out_channels), kernel_(kernel) {
  DYBAT_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && stride > 0 && groups > 0, "Conv2d(", in_channels,
              ", ", out_channels, ", k=", kernel, ", s=", stride, ", groups=", groups, "): sizes must be positive");
  DYBAT_CHECK(in_channels % groups == 0 && out_channels % groups == 0, "Conv2d: groups=", groups,
              " must divide both in_channels=", in_channels, " and out_channels=", out_channels);
  p_.stride_h = p_.stride_w = stride;
  p_.pad_h = p_.pad_w = padding >= 0 ? padding : ((stride - 1) + (kernel - 1)) / 2;
  p_.groups = groups;
  // Zero until the net's init runs (nets/ own the init rules, which differ between families).
  weight = register_parameter("weight", Tensor::zeros({out_channels, in_channels / groups, kernel, kernel}));
  if (bias) this->bias = register_parameter("bias", Tensor::zeros({out_channels}));
}

Tensor Conv2d::forward(const Tensor& x) {
  check_nchw(x.shape(), in_, "Conv2d");
  if (!bf16_) return conv2d(x, weight, bias, p_);
  // Mixed precision: bf16 operands (the casts are differentiable, so the gradients reach the
  // float32 master weights), float32 accumulation inside cuDNN, the output back in x's dtype.
  Tensor y = conv2d(to_bf16(x), to_bf16(weight), bias.defined() ? to_bf16(bias) : Tensor(), p_);
  return cast(y, x.dtype());
}

void Conv2d::set_compute_dtype(DType d) { bf16_ = check_compute_dtype(d, "Conv2d") == DType::BFloat16; }

Shape Conv2d::trace(const Shape& in, ShapeTrace& t) const {
  check_nchw(in, in_, "Conv2d");
  int64_t h = window_out_size(in[2], kernel_, p_.stride_h, p_.pad_h, "Conv2d");
  int64_t w = window_out_size(in[3], kernel_, p_.stride_w, p_.pad_w, "Conv2d");
  Shape out = {in[0], out_, h, w};
  t.leaf(*this, out, in[0] * h * w * out_ * (in_ / p_.groups) * kernel_ * kernel_);
  return out;
}

}  // namespace dybat
