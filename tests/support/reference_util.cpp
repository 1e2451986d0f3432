// The bridge to the reference tier (see reference_util.h).
#include "support/reference_util.h"

#include "kernels/reference/dropout.h"
#include "kernels/reference/loss.h"
#include "kernels/reference/matmul.h"
#include "kernels/reference/reduce.h"

namespace dybat::test {

namespace {
std::vector<double> values(const Tensor& t) { return t.defined() ? t.to_vector<double>() : std::vector<double>(); }
Tensor tensor(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }
const double* or_null(const std::vector<double>& v) { return v.empty() ? nullptr : v.data(); }
}  // namespace

ref::Activation ref_activation(Act act) {
  switch (act) {
    case Act::None: return ref::Activation::Identity;
    case Act::ReLU: return ref::Activation::ReLU;
    case Act::ReLU6: return ref::Activation::ReLU6;
    case Act::Sigmoid: return ref::Activation::Sigmoid;
    case Act::SiLU: return ref::Activation::SiLU;
    case Act::HardSigmoid: return ref::Activation::HardSigmoid;
    case Act::HardSwish: return ref::Activation::HardSwish;
  }
  return ref::Activation::Identity;
}

ref::Conv2dShape ref_conv_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w,
          p.groups};
}

ref::Pool2dShape ref_pool_shape(const Shape& x, const Pool2dParams& p) {
  return {x[0], x[1], x[2], x[3], p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w};
}

ref::Binary ref_binary(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return ref::Binary::Add;
    case BinaryOp::Sub: return ref::Binary::Sub;
    case BinaryOp::Mul: return ref::Binary::Mul;
    case BinaryOp::Div: return ref::Binary::Div;
  }
  return ref::Binary::Add;
}

ref::Dims ref_dims(const Shape& s) { return ref::Dims(s.begin(), s.end()); }

Tensor ref_activation_forward(const Tensor& x, Act act) {
  std::vector<double> xv = values(x), out(xv.size());
  ref::activation_forward(ref_activation(act), x.numel(), xv.data(), out.data());
  return tensor(out, x.shape());
}

Tensor ref_activation_backward(const Tensor& dout, const Tensor& x, Act act) {
  std::vector<double> xv = values(x), dv = values(dout), dx(xv.size(), 0.0);
  ref::activation_backward(ref_activation(act), x.numel(), dv.data(), xv.data(), dx.data());
  return tensor(dx, x.shape());
}

RefBatchNorm ref_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, const BatchNormOptions& opt, const Tensor& residual,
                            const Tensor& dout) {
  const int64_t c = x.size(1);
  const ref::BatchNormShape s{x.size(0), c, x.dim() == 4 ? x.size(2) * x.size(3) : 1};
  std::vector<double> xv = values(x), g = values(gamma), b = values(beta), rm = values(running_mean),
                      rv = values(running_var), res = values(residual);
  std::vector<double> z(xv.size()), mean(c), invstd(c);  // z = BN(x) + residual, before the activation
  if (opt.use_batch_stats) {
    ref::batchnorm_forward_train(s, xv.data(), g.data(), b.data(), opt.eps, opt.momentum,
                                 opt.update_running ? rm.data() : nullptr, rv.data(), z.data(), mean.data(),
                                 invstd.data());
  } else {
    ref::batchnorm_forward_eval(s, xv.data(), g.data(), b.data(), rm.data(), rv.data(), opt.eps, z.data());
    mean = rm;
    ref::batchnorm_invstd(c, rv.data(), opt.eps, invstd.data());
  }
  for (size_t i = 0; i < res.size(); ++i) z[i] += res[i];
  std::vector<double> out(z.size());
  ref::activation_forward(ref_activation(opt.act), x.numel(), z.data(), out.data());

  RefBatchNorm r;
  r.out = tensor(out, x.shape());
  if (running_mean.defined()) r.running_mean = tensor(rm, {c}), r.running_var = tensor(rv, {c});
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), dz(z.size(), 0.0), dx(z.size(), 0.0), dg(c, 0.0), db(c, 0.0);
  ref::activation_backward(ref_activation(opt.act), x.numel(), dv.data(), z.data(), dz.data());
  ref::batchnorm_backward(s, opt.use_batch_stats, dz.data(), xv.data(), g.data(), mean.data(), invstd.data(),
                          dx.data(), dg.data(), db.data());
  r.dx = tensor(dx, x.shape());
  r.dgamma = tensor(dg, {c});
  r.dbeta = tensor(db, {c});
  if (residual.defined()) r.dresidual = tensor(dz, x.shape());  // the add passes dz through
  return r;
}

RefConv ref_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, const Tensor& dout) {
  const ref::Conv2dShape s = ref_conv_shape(x.shape(), w.shape(), p);
  std::vector<double> xv = values(x), wv = values(w), bv = values(b);
  std::vector<double> out(static_cast<size_t>(s.batch * s.out_channels * s.out_h() * s.out_w()));
  ref::conv2d_forward(s, xv.data(), wv.data(), or_null(bv), out.data());
  RefConv r;
  r.out = tensor(out, {s.batch, s.out_channels, s.out_h(), s.out_w()});
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), dx(xv.size(), 0.0), dw(wv.size(), 0.0), db(s.out_channels, 0.0);
  ref::conv2d_backward(s, dv.data(), xv.data(), wv.data(), dx.data(), dw.data(), b.defined() ? db.data() : nullptr);
  r.dx = tensor(dx, x.shape());
  r.dw = tensor(dw, w.shape());
  if (b.defined()) r.db = tensor(db, b.shape());
  return r;
}

RefPool ref_max_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& dout) {
  const ref::Pool2dShape s = ref_pool_shape(x.shape(), p);
  const Shape out_shape{s.batch, s.channels, s.out_h(), s.out_w()};
  std::vector<double> xv = values(x), out(static_cast<size_t>(shape_numel(out_shape)));
  std::vector<int64_t> argmax(out.size());
  ref::max_pool2d_forward(s, xv.data(), out.data(), argmax.data());
  RefPool r{tensor(out, out_shape), Tensor::from_vector(argmax, out_shape), Tensor()};
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), dx(xv.size(), 0.0);
  ref::max_pool2d_backward(s, dv.data(), argmax.data(), dx.data());
  r.dx = tensor(dx, x.shape());
  return r;
}

RefPool ref_avg_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& dout) {
  const ref::Pool2dShape s = ref_pool_shape(x.shape(), p);
  const Shape out_shape{s.batch, s.channels, s.out_h(), s.out_w()};
  std::vector<double> xv = values(x), out(static_cast<size_t>(shape_numel(out_shape)));
  ref::avg_pool2d_forward(s, xv.data(), out.data());
  RefPool r{tensor(out, out_shape), Tensor(), Tensor()};
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), dx(xv.size(), 0.0);
  ref::avg_pool2d_backward(s, dv.data(), dx.data());
  r.dx = tensor(dx, x.shape());
  return r;
}

RefPool ref_adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w, const Tensor& dout) {
  const int64_t planes = x.size(0) * x.size(1), in_h = x.size(2), in_w = x.size(3);
  std::vector<double> xv = values(x), out(static_cast<size_t>(planes * out_h * out_w));
  ref::adaptive_avg_pool2d_forward(planes, in_h, in_w, out_h, out_w, xv.data(), out.data());
  RefPool r{tensor(out, {x.size(0), x.size(1), out_h, out_w}), Tensor(), Tensor()};
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), dx(xv.size(), 0.0);
  ref::adaptive_avg_pool2d_backward(planes, in_h, in_w, out_h, out_w, dv.data(), dx.data());
  r.dx = tensor(dx, x.shape());
  return r;
}

Tensor ref_gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
                const Tensor& c) {
  const int64_t m = c.size(0), n = c.size(1), k = trans_a ? a.size(0) : a.size(1);
  std::vector<double> av = values(a), bv = values(b), cv = values(c);
  ref::gemm(trans_a, trans_b, m, n, k, alpha, av.data(), bv.data(), beta, cv.data());
  return tensor(cv, c.shape());
}

RefLinear ref_linear(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dout) {
  const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  std::vector<double> xv = values(x), wv = values(w), bv = values(b), y(static_cast<size_t>(n * out));
  ref::linear_forward(n, in, out, xv.data(), wv.data(), or_null(bv), y.data());
  RefLinear r{tensor(y, {n, out}), Tensor(), Tensor(), Tensor()};
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), dx(xv.size(), 0.0), dw(wv.size(), 0.0), db(out, 0.0);
  ref::linear_backward(n, in, out, dv.data(), xv.data(), wv.data(), dx.data(), dw.data(), db.data());
  r.dx = tensor(dx, x.shape());
  r.dw = tensor(dw, w.shape());
  r.db = tensor(db, {out});
  return r;
}

RefLinear ref_matmul(const Tensor& a, const Tensor& b, const Tensor& dout) {
  const int64_t rows = a.size(0), inner = a.size(1), cols = b.size(1);
  std::vector<double> av = values(a), bv = values(b), y(static_cast<size_t>(rows * cols));
  ref::matmul_forward(rows, inner, cols, av.data(), bv.data(), y.data());
  RefLinear r{tensor(y, {rows, cols}), Tensor(), Tensor(), Tensor()};
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), da(av.size(), 0.0), db(bv.size(), 0.0);
  ref::matmul_backward(rows, inner, cols, dv.data(), av.data(), bv.data(), da.data(), db.data());
  r.dx = tensor(da, a.shape());
  r.dw = tensor(db, b.shape());
  return r;
}

RefLoss ref_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& dlosses) {
  const int64_t n = logits.size(0), classes = logits.size(1);
  std::vector<double> z = values(logits), losses(static_cast<size_t>(n));
  std::vector<int64_t> y = labels.to_vector<int64_t>();
  ref::cross_entropy_forward(n, classes, z.data(), y.data(), losses.data());
  RefLoss r{tensor(losses, {n}), Tensor()};
  if (!dlosses.defined()) return r;
  std::vector<double> dl = values(dlosses), dz(z.size(), 0.0);
  ref::cross_entropy_backward(n, classes, dl.data(), z.data(), y.data(), dz.data());
  r.dlogits = tensor(dz, logits.shape());
  return r;
}

Tensor ref_dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset) {
  std::vector<double> xv = values(x), out(xv.size());
  ref::dropout_forward(x.numel(), p, seed, offset, xv.data(), out.data());
  return tensor(out, x.shape());
}

std::vector<Tensor> ref_binary_op(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& dout) {
  const ref::Dims da_dims = ref_dims(a.shape()), db_dims = ref_dims(b.shape());
  const ref::Dims out_dims = ref::broadcast_dims(da_dims, db_dims);
  std::vector<double> av = values(a), bv = values(b), out(static_cast<size_t>(ref::element_count(out_dims)));
  ref::binary_forward(ref_binary(op), da_dims, av.data(), db_dims, bv.data(), out.data());
  std::vector<Tensor> r{tensor(out, Shape(out_dims.begin(), out_dims.end()))};
  if (!dout.defined()) return r;
  std::vector<double> dv = values(dout), ga(av.size(), 0.0), gb(bv.size(), 0.0);
  ref::binary_backward(ref_binary(op), da_dims, av.data(), db_dims, bv.data(), dv.data(), ga.data(), gb.data());
  r.push_back(tensor(ga, a.shape()));
  r.push_back(tensor(gb, b.shape()));
  return r;
}

Tensor ref_sum(const Tensor& x, const std::vector<int64_t>& dims, double scale) {
  std::vector<bool> reduced(static_cast<size_t>(x.dim()), dims.empty());
  for (int64_t d : dims) reduced[static_cast<size_t>(d < 0 ? d + x.dim() : d)] = true;
  const ref::Dims in_dims = ref_dims(x.shape()), out_dims = ref::reduced_dims(in_dims, reduced);
  std::vector<double> xv = values(x), out(static_cast<size_t>(ref::element_count(out_dims)));
  ref::sum_forward(in_dims, reduced, scale, xv.data(), out.data());
  return tensor(out, Shape(out_dims.begin(), out_dims.end()));
}

}  // namespace dybat::test
