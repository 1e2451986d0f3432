// Pooling layers (see pool.h).
#include "layers/pool.h"

namespace dybat {

MaxPool2d::MaxPool2d(int kernel, int stride, int padding) : Layer("MaxPool2d") {
  DYBAT_CHECK(kernel > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel, "MaxPool2d(k=", kernel, ", s=", stride,
              ", p=", padding, "): invalid (padding may be at most half the kernel)");
  p_.kernel_h = p_.kernel_w = kernel;
  p_.stride_h = p_.stride_w = stride;
  p_.pad_h = p_.pad_w = padding;
}

Tensor MaxPool2d::forward(const Tensor& x) {
  DYBAT_CHECK(x.dim() == 4, "MaxPool2d: expected an [N, C, H, W] input, got ", shape_str(x.shape()));
  return max_pool2d(x, p_);
}

Shape MaxPool2d::trace(const Shape& in, ShapeTrace& t) const {
  DYBAT_CHECK(in.size() == 4, "MaxPool2d: expected an [N, C, H, W] input, got ", shape_str(in));
  Shape out = {in[0], in[1], window_out_size(in[2], p_.kernel_h, p_.stride_h, p_.pad_h, "MaxPool2d"),
               window_out_size(in[3], p_.kernel_w, p_.stride_w, p_.pad_w, "MaxPool2d")};
  t.leaf(*this, out, 0);
  return out;
}

Tensor GlobalAvgPool2d::forward(const Tensor& x) {
  DYBAT_CHECK(x.dim() == 4, "GlobalAvgPool2d: expected an [N, C, H, W] input, got ", shape_str(x.shape()));
  Tensor y = adaptive_avg_pool2d(x, 1, 1);
  return flatten_ ? y.flatten(1) : y;
}

Shape GlobalAvgPool2d::trace(const Shape& in, ShapeTrace& t) const {
  DYBAT_CHECK(in.size() == 4, "GlobalAvgPool2d: expected an [N, C, H, W] input, got ", shape_str(in));
  Shape out = flatten_ ? Shape{in[0], in[1]} : Shape{in[0], in[1], 1, 1};
  t.leaf(*this, out, 0);
  return out;
}

}  // namespace dybat
