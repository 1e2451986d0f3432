// Pooling: shape checks, device dispatch, and the autograd nodes of max, average and adaptive
// average pooling.
#include "kernels/pool.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/backend.h"

namespace dybat {

namespace {

std::string params_str(const Pool2dParams& p) {
  return detail::cat("kernel (", p.kernel_h, ", ", p.kernel_w, "), stride (", p.stride_h, ", ", p.stride_w,
                     "), padding (", p.pad_h, ", ", p.pad_w, ")");
}

// Floor-mode output size of one axis.
int64_t pool_out_size(int64_t in, int k, int s, int pad) { return (in + 2 * static_cast<int64_t>(pad) - k) / s + 1; }

void check_input(const char* op, const Tensor& x) {
  DYBAT_CHECK(x.defined(), op, ": input is undefined");
  DYBAT_CHECK(x.dim() == 4, op, ": input must be 4-d [N, C, H, W], got ", shape_str(x.shape()));
  DYBAT_CHECK(x.is_contiguous(), op, ": input must be contiguous");
}

// Checks the parameters against x's plane and returns the output shape. Padding is limited to half
// the kernel (as PyTorch), which guarantees every window holds at least one real cell.
Shape pool_shape(const char* op, const Shape& x, const Pool2dParams& p) {
  DYBAT_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 &&
                  p.pad_w >= 0,
              op, ": invalid parameters: ", params_str(p), " (kernel and stride must be >= 1, padding >= 0)");
  DYBAT_CHECK(2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op, ": padding must be at most half the kernel, got ",
              params_str(p));
  DYBAT_CHECK(x[2] + 2 * p.pad_h >= p.kernel_h && x[3] + 2 * p.pad_w >= p.kernel_w, op, ": input ", shape_str(x),
              " is smaller than the kernel with ", params_str(p));
  return {x[0], x[1], pool_out_size(x[2], p.kernel_h, p.stride_h, p.pad_h),
          pool_out_size(x[3], p.kernel_w, p.stride_w, p.pad_w)};
}

void check_like(const char* op, const char* what, const Tensor& t, const Shape& shape, const Tensor& like,
                DType dtype) {
  DYBAT_CHECK(t.defined(), op, ": ", what, " is undefined");
  DYBAT_CHECK(t.shape() == shape, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ", shape_str(shape));
  DYBAT_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  DYBAT_CHECK(t.dtype() == dtype, op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ", dtype_name(dtype));
  check_same_device(t, like, op);
}

}  // namespace

void max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out, const Tensor& argmax) {
  const char* op = "max_pool2d";
  check_input(op, x);
  Shape os = pool_shape(op, x.shape(), p);
  check_like(op, "output", out, os, x, x.dtype());
  check_like(op, "argmax", argmax, os, x, DType::Int64);
  if (out.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), max_pool2d_forward, x, p, out, argmax);
}

void max_pool2d_backward(const Tensor& dout, const Tensor& argmax, const Pool2dParams& p, const Tensor& dx) {
  const char* op = "max_pool2d backward";
  check_input(op, dx);
  Shape os = pool_shape(op, dx.shape(), p);
  check_like(op, "dout", dout, os, dx, dx.dtype());
  check_like(op, "argmax", argmax, os, dx, DType::Int64);
  if (dx.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(dx.device(), max_pool2d_backward, dout, argmax, p, dx);
}

void avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& out) {
  const char* op = "avg_pool2d";
  check_input(op, x);
  check_like(op, "output", out, pool_shape(op, x.shape(), p), x, x.dtype());
  if (out.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), avg_pool2d_forward, x, p, out);
}

void avg_pool2d_backward(const Tensor& dout, const Pool2dParams& p, const Tensor& dx) {
  const char* op = "avg_pool2d backward";
  check_input(op, dx);
  check_like(op, "dout", dout, pool_shape(op, dx.shape(), p), dx, dx.dtype());
  if (dx.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(dx.device(), avg_pool2d_backward, dout, p, dx);
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& out) {
  const char* op = "adaptive_avg_pool2d";
  check_input(op, x);
  DYBAT_CHECK(out.dim() == 4 && out.size(0) == x.size(0) && out.size(1) == x.size(1) && out.size(2) >= 1 &&
                  out.size(3) >= 1,
              op, ": output ", shape_str(out.shape()), " does not match input ", shape_str(x.shape()));
  DYBAT_CHECK(x.size(2) >= 1 && x.size(3) >= 1, op, ": input ", shape_str(x.shape()), " has an empty plane");
  check_like(op, "output", out, out.shape(), x, x.dtype());
  if (out.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), adaptive_avg_pool2d_forward, x, out);
}

void adaptive_avg_pool2d_backward(const Tensor& dout, const Tensor& dx) {
  const char* op = "adaptive_avg_pool2d backward";
  check_input(op, dx);
  DYBAT_CHECK(dout.dim() == 4 && dout.size(0) == dx.size(0) && dout.size(1) == dx.size(1) && dout.size(2) >= 1 &&
                  dout.size(3) >= 1,
              op, ": dout ", shape_str(dout.shape()), " does not match dx ", shape_str(dx.shape()));
  check_like(op, "dout", dout, dout.shape(), dx, dx.dtype());
  if (dx.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(dx.device(), adaptive_avg_pool2d_backward, dout, dx);
}

// ---- differentiable functions -----------------------------------------------------------------
// Each records a node that saves only what its backward reads: the argmax for max pooling, the
// input shape (and parameters) for the averages. dx is always a fresh tensor.

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  Tensor xc = x.contiguous();
  check_input("max_pool2d", xc);
  Shape os = pool_shape("max_pool2d", xc.shape(), p);
  Tensor out = Tensor::empty(os, xc.dtype(), xc.device());
  Tensor argmax = Tensor::empty(os, DType::Int64, xc.device());
  max_pool2d_forward(xc, p, out, argmax);
  if (autograd::needs_graph({&xc})) {
    Shape xs = xc.shape();
    DType dt = xc.dtype();
    Device dev = xc.device();
    auto node = std::make_shared<autograd::LambdaNode>("MaxPool2dBackward", [argmax, p, xs, dt, dev](const Tensor& d) {
      Tensor dx = Tensor::empty(xs, dt, dev);
      max_pool2d_backward(d.contiguous(), argmax, p, dx);
      return std::vector<Tensor>{dx};
    });
    autograd::connect(node, {&xc}, out);
  }
  return out;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  Tensor xc = x.contiguous();
  check_input("avg_pool2d", xc);
  Tensor out = Tensor::empty(pool_shape("avg_pool2d", xc.shape(), p), xc.dtype(), xc.device());
  avg_pool2d_forward(xc, p, out);
  if (autograd::needs_graph({&xc})) {
    Shape xs = xc.shape();
    DType dt = xc.dtype();
    Device dev = xc.device();
    auto node = std::make_shared<autograd::LambdaNode>("AvgPool2dBackward", [p, xs, dt, dev](const Tensor& d) {
      Tensor dx = Tensor::empty(xs, dt, dev);
      avg_pool2d_backward(d.contiguous(), p, dx);
      return std::vector<Tensor>{dx};
    });
    autograd::connect(node, {&xc}, out);
  }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  Tensor xc = x.contiguous();
  check_input("adaptive_avg_pool2d", xc);
  DYBAT_CHECK(out_h >= 1 && out_w >= 1, "adaptive_avg_pool2d: output size (", out_h, ", ", out_w,
              ") must be at least (1, 1)");
  Tensor out = Tensor::empty({xc.size(0), xc.size(1), out_h, out_w}, xc.dtype(), xc.device());
  adaptive_avg_pool2d_forward(xc, out);
  if (autograd::needs_graph({&xc})) {
    Shape xs = xc.shape();
    DType dt = xc.dtype();
    Device dev = xc.device();
    auto node = std::make_shared<autograd::LambdaNode>("AdaptiveAvgPool2dBackward", [xs, dt, dev](const Tensor& d) {
      Tensor dx = Tensor::empty(xs, dt, dev);
      adaptive_avg_pool2d_backward(d.contiguous(), dx);
      return std::vector<Tensor>{dx};
    });
    autograd::connect(node, {&xc}, out);
  }
  return out;
}

}  // namespace dybat
