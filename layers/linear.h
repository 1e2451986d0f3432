// Linear: y = x W^T + b with PyTorch's names (weight [out, in], bias [out]).
#pragma once

#include "layers/layer.h"

namespace dybat {

class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;  // x [N, in] -> [N, out]
  Shape trace(const Shape& in, ShapeTrace& t) const override;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  // Mixed precision (layers/precision.h): bfloat16 computes in bf16, float32 in the input's dtype.
  void set_compute_dtype(DType d);
  DType compute_dtype() const { return bf16_ ? DType::BFloat16 : DType::Float32; }

  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined

 private:
  int64_t in_, out_;
  bool bf16_ = false;
};

}  // namespace dybat
