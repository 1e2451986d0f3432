// Synchronised batch norm: argument checks, device dispatch, the forward with its two
// all-reduces and the autograd node whose backward makes the third (see batchnorm_sync.h).
#include "kernels/batchnorm_sync.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/batchnorm_checks.h"

namespace dybat {

using bn_checks::channels_of;
using bn_checks::check_channel_vector;
using bn_checks::check_like_x;

namespace {

// A float64 contiguous [n] on x's device.
void check_sums(const Tensor& t, int64_t n, const Tensor& x, const char* op, const char* what) {
  DYBAT_CHECK(t.defined() && t.dtype() == DType::Float64 && t.dim() == 1 && t.size(0) == n && t.is_contiguous(), op,
              ": ", what, " must be a contiguous float64 [", n, "], got ", t.defined() ? t.str() : "undefined");
  check_same_device(x, t, op);
}

int64_t contiguous_channels(const Tensor& x, const char* op) {
  int64_t c = channels_of(x, op);
  DYBAT_CHECK(x.is_contiguous() && x.numel() > 0, op, ": x must be contiguous and not empty, got ", x.str());
  return c;
}

}  // namespace

void batchnorm_sums(const Tensor& x, const Tensor& sums) {
  const char* op = "batchnorm_sums";
  int64_t c = contiguous_channels(x, op);
  check_sums(sums, c + 1, x, op, "sums");
  DYBAT_DISPATCH_DEVICE(x.device(), batchnorm_sums, x, sums);
}

void batchnorm_dev_sums(const Tensor& x, const Tensor& sums, const Tensor& dev) {
  const char* op = "batchnorm_dev_sums";
  int64_t c = contiguous_channels(x, op);
  check_sums(sums, c + 1, x, op, "sums");
  check_sums(dev, c, x, op, "dev");
  DYBAT_DISPATCH_DEVICE(x.device(), batchnorm_dev_sums, x, sums, dev);
}

void batchnorm_sync_stats(const Tensor& sums, const Tensor& dev, double eps, const Tensor& mean, const Tensor& invstd,
                          const Tensor& running_mean, const Tensor& running_var, double momentum) {
  const char* op = "batchnorm_sync_stats";
  DYBAT_CHECK(mean.defined() && mean.dim() == 1, op, ": mean must be [C]");
  int64_t c = mean.size(0);
  check_sums(sums, c + 1, mean, op, "sums");
  check_sums(dev, c, mean, op, "dev");
  check_channel_vector(invstd, c, mean, op, "invstd");
  DYBAT_CHECK(running_mean.defined() == running_var.defined(), op, ": give both running statistics or neither");
  if (running_mean.defined()) {
    check_channel_vector(running_mean, c, mean, op, "running_mean");
    check_channel_vector(running_var, c, mean, op, "running_var");
  }
  DYBAT_DISPATCH_DEVICE(mean.device(), batchnorm_sync_stats, sums, dev, eps, mean, invstd, running_mean, running_var,
                        momentum);
}

void batchnorm_grad_sums(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, const Tensor& dz,
                         const Tensor& gsums, const Tensor& dgamma, const Tensor& dbeta) {
  const char* op = "batchnorm_grad_sums";
  int64_t c = contiguous_channels(x, op);
  for (auto [v, what] : {std::pair{&mean, "mean"}, {&invstd, "invstd"}, {&gamma, "gamma"}, {&beta, "beta"}})
    check_channel_vector(*v, c, x, op, what);
  DYBAT_CHECK(dout.defined() && dz.defined(), op, ": dout and dz must be defined");
  check_like_x(dout, x, op, "dout");
  check_like_x(residual, x, op, "residual");
  check_like_x(dz, x, op, "dz");
  check_sums(gsums, 2 * c, x, op, "gsums");
  if (dgamma.defined()) check_channel_vector(dgamma, c, x, op, "dgamma");
  if (dbeta.defined()) check_channel_vector(dbeta, c, x, op, "dbeta");
  DYBAT_DISPATCH_DEVICE(x.device(), batchnorm_grad_sums, dout, x, mean, invstd, gamma, beta, residual, act, dz, gsums,
                        dgamma, dbeta);
}

void batchnorm_sync_dx(const Tensor& dz, const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                       const Tensor& gsums, const Tensor& sums, const Tensor& dx) {
  const char* op = "batchnorm_sync_dx";
  int64_t c = contiguous_channels(x, op);
  for (auto [v, what] : {std::pair{&mean, "mean"}, {&invstd, "invstd"}, {&gamma, "gamma"}})
    check_channel_vector(*v, c, x, op, what);
  DYBAT_CHECK(dz.defined() && dx.defined(), op, ": dz and dx must be defined");
  check_like_x(dz, x, op, "dz");
  check_like_x(dx, x, op, "dx");
  check_sums(gsums, 2 * c, x, op, "gsums");
  check_sums(sums, c + 1, x, op, "sums");
  DYBAT_DISPATCH_DEVICE(x.device(), batchnorm_sync_dx, dz, x, mean, invstd, gamma, gsums, sums, dx);
}

namespace {

class SyncBatchNormNode : public Node {
 public:
  SyncBatchNormNode(Tensor x, Tensor gamma, Tensor beta, Tensor residual, Tensor mean, Tensor invstd, Tensor sums,
                    Act act, const Collective& sync)
      : x_(std::move(x)),
        gamma_(std::move(gamma)),
        beta_(std::move(beta)),
        residual_(std::move(residual)),
        mean_(std::move(mean)),
        invstd_(std::move(invstd)),
        sums_(std::move(sums)),
        act_(act),
        sync_(sync) {}
  const char* name() const override { return "SyncBatchNormBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    std::vector<Tensor> g(4);
    if (needs_grad(1)) g[1] = grad_target(1, gamma_);
    if (needs_grad(2)) g[2] = grad_target(2, beta_);
    // dz is the residual's gradient as it is; dx is computed over it in place when the residual
    // needs no gradient of its own.
    Tensor dz = Tensor::empty(x_.shape(), x_.dtype(), x_.device());
    const int64_t c = x_.size(1);
    Tensor gsums = Tensor::empty({2 * c}, DType::Float64, x_.device());
    batchnorm_grad_sums(dout.contiguous(), x_, mean_, invstd_, gamma_, beta_, residual_, act_, dz, gsums, g[1], g[2]);
    // Every process takes part in the reduction, whether or not it needs dx: the others wait for it.
    sync_.all_reduce_sum(gsums);
    if (needs_grad(3)) g[3] = dz;
    if (needs_grad(0)) {
      g[0] = needs_grad(3) ? Tensor::empty(x_.shape(), x_.dtype(), x_.device()) : dz;
      batchnorm_sync_dx(dz, x_, mean_, invstd_, gamma_, gsums, sums_, g[0]);
    }
    return g;
  }
  void release() override { x_ = gamma_ = beta_ = residual_ = mean_ = invstd_ = sums_ = Tensor(); }

 private:
  Tensor x_, gamma_, beta_, residual_;  // detached, contiguous; residual may be undefined
  Tensor mean_, invstd_;                // [C], the global statistics the forward normalised with
  Tensor sums_;                         // float64 [C + 1], all-reduced: sums[C] is the global n
  Act act_;
  const Collective& sync_;
};

}  // namespace

Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                       const Tensor& running_var, const BatchNormOptions& opt, const Collective& sync,
                       const Tensor& residual) {
  const char* op = "sync_batch_norm";
  int64_t c = channels_of(x, op);
  DYBAT_CHECK(opt.use_batch_stats, op, ": synchronised statistics are batch statistics (use_batch_stats)");
  DYBAT_CHECK(x.numel() / (c > 0 ? c : 1) > 1, op, ": expected more than 1 value per channel, got ",
              shape_str(x.shape()));
  for (auto [v, what] : {std::pair{&gamma, "gamma"}, {&beta, "beta"}}) check_channel_vector(*v, c, x, op, what);
  Tensor xc = x.contiguous(), gc = gamma.contiguous(), bc = beta.contiguous();
  Tensor rc = residual.defined() ? residual.contiguous() : Tensor();
  check_like_x(rc, x, op, "residual");

  // Statistics: local sums, all-reduced, then the deviations from the global mean, all-reduced.
  Tensor sums = Tensor::empty({c + 1}, DType::Float64, x.device());
  Tensor dev = Tensor::empty({c}, DType::Float64, x.device());
  batchnorm_sums(xc, sums);
  sync.all_reduce_sum(sums);
  batchnorm_dev_sums(xc, sums, dev);
  sync.all_reduce_sum(dev);
  Tensor mean = Tensor::empty({c}, x.dtype(), x.device()), invstd = Tensor::empty({c}, x.dtype(), x.device());
  batchnorm_sync_stats(sums, dev, opt.eps, mean, invstd, opt.update_running ? running_mean : Tensor(),
                       opt.update_running ? running_var : Tensor(), opt.momentum);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  batchnorm_apply(xc, mean, invstd, gc, bc, rc, opt.act, out);

  if (autograd::needs_graph({&x, &gamma, &beta, &residual})) {
    auto node =
        std::make_shared<SyncBatchNormNode>(xc.detach(), gc.detach(), bc.detach(),
                                            rc.defined() ? rc.detach() : Tensor(), mean, invstd, sums, opt.act, sync);
    autograd::connect(node, {&x, &gamma, &beta, &residual}, out);
  }
  return out;
}

}  // namespace dybat
