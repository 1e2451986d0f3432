// Conv2d: a 2-d convolution layer with PyTorch's parameter names (weight, optional bias).
#pragma once

#include "kernels/conv2d.h"
#include "layers/layer.h"

namespace dybat {

class Conv2d : public Layer {
 public:
  // Square kernel k, stride s, groups g. Padding defaults to timm's symmetric rule
  // ((s - 1) + (k - 1)) / 2, which is k / 2 for every odd k whatever the stride.
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel, int stride = 1, int groups = 1, bool bias = false,
         int padding = -1);
  Tensor forward(const Tensor& x) override;
  Shape trace(const Shape& in, ShapeTrace& t) const override;

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int kernel() const { return kernel_; }
  int groups() const { return p_.groups; }
  const Conv2dParams& params() const { return p_; }
  // fan_out as timm's init defines it: k*k*C_out/groups.
  int64_t fan_out() const { return static_cast<int64_t>(kernel_) * kernel_ * out_ / p_.groups; }
  // Mixed precision (layers/precision.h): bfloat16 computes in bf16, float32 in the input's dtype.
  void set_compute_dtype(DType d);
  DType compute_dtype() const { return bf16_ ? DType::BFloat16 : DType::Float32; }

  Tensor weight;  // [C_out, C_in/groups, k, k]
  Tensor bias;    // [C_out] or undefined

 private:
  int64_t in_, out_;
  int kernel_;
  Conv2dParams p_;
  bool bf16_ = false;
};

}  // namespace dybat
