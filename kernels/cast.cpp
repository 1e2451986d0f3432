// Casts: checks, device dispatch and the autograd node of cast (see cast.h).
#include "kernels/cast.h"

#include "core/autograd.h"
#include "core/copy.h"
#include "core/dispatch.h"
#include "kernels/backend.h"

namespace dybat {

namespace {

void check_pair(const char* op, const Tensor& x, const Tensor& out) {
  DYBAT_CHECK(x.defined() && out.defined(), op, ": undefined tensor");
  DYBAT_CHECK(x.shape() == out.shape(), op, ": x ", x.str(), " and out ", out.str(), " differ in shape");
  DYBAT_CHECK(x.is_contiguous() && out.is_contiguous(), op, ": x and out must be contiguous");
  check_same_device(x, out, op);
}

bool is_wide_float(DType t) { return t == DType::Float32 || t == DType::Float64; }

// Kernel-level conversion between any two floating dtypes (bf16 kernels where bf16 is involved).
void cast_into(const Tensor& x, const Tensor& out) {
  if (out.dtype() == DType::BFloat16 && is_wide_float(x.dtype()))
    to_bf16(x, out);
  else if (x.dtype() == DType::BFloat16 && is_wide_float(out.dtype()))
    from_bf16(x, out);
  else
    copy_into(out, x);  // float32 <-> float64
}

// dx = dout converted back to the input's dtype.
class CastBackward : public Node {
 public:
  explicit CastBackward(DType in) : in_(in) {}
  const char* name() const override { return "CastBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    Tensor d = dout.contiguous();
    Tensor dx = Tensor::empty(d.shape(), in_, d.device());
    cast_into(d, dx);
    return {dx};
  }

 private:
  DType in_;
};

}  // namespace

void to_bf16(const Tensor& x, const Tensor& out) {
  check_pair("to_bf16", x, out);
  DYBAT_CHECK(is_wide_float(x.dtype()) && out.dtype() == DType::BFloat16, "to_bf16: expected float32 or float64 ",
              "into bfloat16, got ", dtype_name(x.dtype()), " into ", dtype_name(out.dtype()));
  if (x.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), to_bf16, x, out);
}

void from_bf16(const Tensor& x, const Tensor& out) {
  check_pair("from_bf16", x, out);
  DYBAT_CHECK(x.dtype() == DType::BFloat16 && is_wide_float(out.dtype()), "from_bf16: expected bfloat16 into ",
              "float32 or float64, got ", dtype_name(x.dtype()), " into ", dtype_name(out.dtype()));
  if (x.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), from_bf16, x, out);
}

Tensor cast(const Tensor& x, DType dtype) {
  DYBAT_CHECK(x.defined(), "cast: undefined tensor");
  DYBAT_CHECK(is_floating(x.dtype()) && is_floating(dtype), "cast: floating dtypes only, got ", dtype_name(x.dtype()),
              " to ", dtype_name(dtype));
  if (x.dtype() == dtype) return x;
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  cast_into(xc, out);
  if (autograd::needs_graph({&x})) {
    auto node = std::make_shared<CastBackward>(x.dtype());
    autograd::connect(node, {&x}, out);
  }
  return out;
}

}  // namespace dybat
