// Matrix products: device dispatch, the matmul and linear autograd nodes.
#include "kernels/matmul.h"

#include "core/autograd.h"
#include "core/copy.h"
#include "core/dispatch.h"
#include "kernels/backend.h"

namespace dybat {

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  check_same_device(a, b, "gemm");
  check_same_device(a, c, "gemm");
  check_same_dtype(a, b, "gemm");
  check_same_dtype(a, c, "gemm");
  DYBAT_CHECK(!(c.dtype() == DType::BFloat16 && c.device().is_cpu()),
              "gemm: bfloat16 matrix products run on CUDA only (mixed precision); the CPU computes in float32 or "
              "float64");
  DYBAT_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2, "gemm: operands must be 2-d, got A ", shape_str(a.shape()),
              ", B ", shape_str(b.shape()), ", C ", shape_str(c.shape()));
  DYBAT_CHECK(a.is_contiguous() && b.is_contiguous() && c.is_contiguous(), "gemm: operands must be contiguous");
  int64_t m = trans_a ? a.size(1) : a.size(0), k = trans_a ? a.size(0) : a.size(1);
  int64_t kb = trans_b ? b.size(1) : b.size(0), n = trans_b ? b.size(0) : b.size(1);
  DYBAT_CHECK(k == kb && c.size(0) == m && c.size(1) == n, "gemm: op(A) is [", m, ", ", k, "], op(B) is [", kb, ", ", n,
              "], C is ", shape_str(c.shape()), "; expected inner sizes to agree and C [", m, ", ", n, "]");
  if (m == 0 || n == 0) return;
  DYBAT_DISPATCH_DEVICE(c.device(), gemm, trans_a, trans_b, alpha, a, b, beta, c);
}

void sum_rows_accumulate(const Tensor& x, const Tensor& out) {
  check_same_device(x, out, "sum_rows_accumulate");
  check_same_dtype(x, out, "sum_rows_accumulate");
  DYBAT_CHECK(x.dim() == 2 && x.is_contiguous(), "sum_rows_accumulate: x must be contiguous 2-d, got ", x.str());
  DYBAT_CHECK(out.dim() == 1 && out.size(0) == x.size(1) && out.is_contiguous(), "sum_rows_accumulate: out must be [",
              x.size(1), "], got ", out.str());
  if (x.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(out.device(), sum_rows_accumulate, x, out);
}

namespace {

// C = A B; dA = dC B^T and dB = A^T dC, both assigned.
class MatmulNode : public Node {
 public:
  MatmulNode(Tensor a, Tensor b) : a_(std::move(a)), b_(std::move(b)) {}
  const char* name() const override { return "MatmulBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    Tensor d = dout.contiguous();
    Tensor da, db;
    if (needs_grad(0)) {
      da = Tensor::empty(a_.shape(), a_.dtype(), a_.device());
      gemm(false, true, 1.0, d, b_, 0.0, da);
    }
    if (needs_grad(1)) {
      db = Tensor::empty(b_.shape(), b_.dtype(), b_.device());
      gemm(true, false, 1.0, a_, d, 0.0, db);
    }
    return {da, db};
  }
  void release() override { a_ = b_ = Tensor(); }

 private:
  Tensor a_, b_;  // [M,K], [K,N], contiguous and detached
};

// y = x W^T + b; dx = dy W (assigned), dW += dy^T x, db += sum_n dy (accumulated).
class LinearNode : public Node {
 public:
  LinearNode(Tensor x, Tensor w, Tensor bias) : x_(std::move(x)), w_(std::move(w)), bias_(std::move(bias)) {}
  const char* name() const override { return "LinearBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    Tensor d = dout.contiguous();  // [N, out]
    std::vector<Tensor> grads(3);
    if (needs_grad(0)) {
      grads[0] = Tensor::empty(x_.shape(), x_.dtype(), x_.device());
      gemm(false, false, 1.0, d, w_, 0.0, grads[0]);  // [N,out] [out,in]
    }
    if (needs_grad(1)) {
      grads[1] = grad_target(1, w_);
      gemm(true, false, 1.0, d, x_, 1.0, grads[1]);  // [out,N] [N,in], added
    }
    if (bias_.defined() && needs_grad(2)) {
      grads[2] = grad_target(2, bias_);
      sum_rows_accumulate(d, grads[2]);
    }
    return grads;
  }
  void release() override { x_ = w_ = bias_ = Tensor(); }

 private:
  Tensor x_, w_;  // [N,in], [out,in], contiguous and detached
  Tensor bias_;   // [out] detached (only its shape is used), or undefined
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  DYBAT_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "matmul: expected A [M,K] and B [K,N], got ",
              shape_str(a.shape()), " and ", shape_str(b.shape()));
  Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty({a.size(0), b.size(1)}, a.dtype(), a.device());
  gemm(false, false, 1.0, ac, bc, 0.0, out);
  if (autograd::needs_graph({&a, &b})) {
    auto node = std::make_shared<MatmulNode>(ac.detach(), bc.detach());
    autograd::connect(node, {&a, &b}, out);
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  DYBAT_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1),
              "linear: expected x [N,in] and weight [out,in], got ", shape_str(x.shape()), " and ",
              shape_str(weight.shape()));
  DYBAT_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear: bias must be [",
              weight.size(0), "], got ", shape_str(bias.shape()));
  if (bias.defined()) {
    check_same_device(x, bias, "linear");
    check_same_dtype(x, bias, "linear");
  }
  Tensor xc = x.contiguous(), wc = weight.contiguous();
  Tensor out = Tensor::empty({x.size(0), weight.size(0)}, x.dtype(), x.device());
  if (bias.defined()) {
    copy_into(out, bias.expand(out.shape()));  // every row starts as the bias, then the product is added
    gemm(false, true, 1.0, xc, wc, 1.0, out);
  } else {
    gemm(false, true, 1.0, xc, wc, 0.0, out);
  }
  if (autograd::needs_graph({&x, &weight, &bias})) {
    auto node = std::make_shared<LinearNode>(xc.detach(), wc.detach(), bias.defined() ? bias.detach() : Tensor());
    autograd::connect(node, {&x, &weight, &bias}, out);
  }
  return out;
}

}  // namespace dybat
