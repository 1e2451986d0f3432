// Elementwise ops: device dispatch, autograd nodes and the differentiable functions.
#include "kernels/elementwise.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/strided.h"
#include "kernels/backend.h"
#include "kernels/reduce.h"

namespace dybat {

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_same_device(a, b, "binary op");
  check_same_dtype(a, b, "binary op");
  DYBAT_CHECK(out.shape() == broadcast_shapes(a.shape(), b.shape()) && out.is_contiguous(),
              "binary op: output must be contiguous with the broadcast shape");
  DYBAT_DISPATCH_DEVICE(out.device(), binary_forward, op, a, b, out);
}

void affine_forward(const Tensor& a, double alpha, double beta, const Tensor& out) {
  DYBAT_CHECK(out.shape() == a.shape() && out.is_contiguous(), "affine: output must be contiguous with a's shape");
  DYBAT_DISPATCH_DEVICE(out.device(), affine_forward, a, alpha, beta, out);
}

namespace {

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape()), a.dtype(), a.device());
  binary_forward(op, a, b, out);
  if (!autograd::needs_graph({&a, &b})) return out;

  // The backward of each op, as a function of dout: gradients summed back to each input's shape.
  Shape sa = a.shape(), sb = b.shape();
  Tensor ad = a.detach(), bd = b.detach(), od = out.detach();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  autograd::LambdaNode::Fn fn;
  switch (op) {
    case BinaryOp::Add:
    case BinaryOp::Sub:
      fn = [=](const Tensor& d) {
        Tensor da = need_a ? sum_to_shape(d, sa) : Tensor();
        Tensor db = need_b ? sum_to_shape(op == BinaryOp::Add ? d : neg(d), sb) : Tensor();
        return std::vector<Tensor>{da, db};
      };
      break;
    case BinaryOp::Mul:
      fn = [=](const Tensor& d) {
        Tensor da = need_a ? sum_to_shape(mul(d, bd), sa) : Tensor();
        Tensor db = need_b ? sum_to_shape(mul(d, ad), sb) : Tensor();
        return std::vector<Tensor>{da, db};
      };
      break;
    case BinaryOp::Div:  // d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b
      fn = [=](const Tensor& d) {
        Tensor db_full = need_b ? neg(div(mul(d, od), bd)) : Tensor();
        Tensor da = need_a ? sum_to_shape(div(d, bd), sa) : Tensor();
        Tensor db = need_b ? sum_to_shape(db_full, sb) : Tensor();
        return std::vector<Tensor>{da, db};
      };
      break;
  }
  static const char* names[] = {"AddBackward", "SubBackward", "MulBackward", "DivBackward"};
  auto node = std::make_shared<autograd::LambdaNode>(names[static_cast<int>(op)], std::move(fn));
  autograd::connect(node, {&a, &b}, out);
  return out;
}

// out = alpha * a + beta; gradient alpha * dout.
Tensor affine(const Tensor& a, double alpha, double beta) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  affine_forward(a, alpha, beta, out);
  if (autograd::needs_graph({&a})) {
    auto node = std::make_shared<autograd::LambdaNode>("AffineBackward", [alpha](const Tensor& d) {
      return std::vector<Tensor>{alpha == 1.0 ? d : mul(d, alpha)};
    });
    autograd::connect(node, {&a}, out);
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor add(const Tensor& a, double s) { return affine(a, 1.0, s); }
Tensor mul(const Tensor& a, double s) { return affine(a, s, 0.0); }
Tensor neg(const Tensor& a) { return affine(a, -1.0, 0.0); }

}  // namespace dybat
