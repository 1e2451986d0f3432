// Fused batch norm + residual + activation: argument checks, device dispatch, the autograd node.
#include "kernels/batchnorm.h"

#include "core/autograd.h"
#include "core/copy.h"
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/batchnorm_checks.h"
#include "kernels/batchnorm_sync.h"

namespace dybat {

using bn_checks::channels_of;
using bn_checks::check_channel_vector;
using bn_checks::check_like_x;

void batchnorm_stats(const Tensor& x, double eps, const Tensor& mean, const Tensor& invstd, const Tensor& running_mean,
                     const Tensor& running_var, double momentum) {
  const char* op = "batchnorm_stats";
  int64_t c = channels_of(x, op);
  DYBAT_CHECK(x.is_contiguous(), op, ": x must be contiguous");
  check_channel_vector(mean, c, x, op, "mean");
  check_channel_vector(invstd, c, x, op, "invstd");
  DYBAT_CHECK(running_mean.defined() == running_var.defined(), op, ": give both running statistics or neither");
  int64_t n = c == 0 ? 0 : x.numel() / c;
  DYBAT_CHECK(n > 0 || c == 0, op, ": no values per channel in ", shape_str(x.shape()));
  if (running_mean.defined()) {
    check_channel_vector(running_mean, c, x, op, "running_mean");
    check_channel_vector(running_var, c, x, op, "running_var");
    DYBAT_CHECK(n > 1, op, ": the unbiased variance of the running update needs more than 1 value per channel, got ",
                shape_str(x.shape()));
  }
  if (c == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), batchnorm_stats, x, eps, mean, invstd, running_mean, running_var, momentum);
}

void batchnorm_invstd(const Tensor& var, double eps, const Tensor& invstd) {
  DYBAT_CHECK(var.dim() == 1 && var.is_contiguous() && invstd.shape() == var.shape() && invstd.is_contiguous(),
              "batchnorm_invstd: var and invstd must be contiguous [C], got ", var.str(), " and ", invstd.str());
  check_same_device(var, invstd, "batchnorm_invstd");
  check_same_dtype(var, invstd, "batchnorm_invstd");
  if (var.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(var.device(), batchnorm_invstd, var, eps, invstd);
}

void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma, const Tensor& beta,
                     const Tensor& residual, Act act, const Tensor& out) {
  const char* op = "batchnorm_apply";
  int64_t c = channels_of(x, op);
  DYBAT_CHECK(x.is_contiguous(), op, ": x must be contiguous");
  for (auto [v, what] : {std::pair{&mean, "mean"}, {&invstd, "invstd"}, {&gamma, "gamma"}, {&beta, "beta"}})
    check_channel_vector(*v, c, x, op, what);
  check_like_x(residual, x, op, "residual");
  DYBAT_CHECK(out.defined(), op, ": out is undefined");
  check_like_x(out, x, op, "out");
  if (x.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), batchnorm_apply, x, mean, invstd, gamma, beta, residual, act, out);
}

void batchnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& gamma, const Tensor& beta, const Tensor& residual, Act act, bool batch_stats,
                        const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dresidual) {
  const char* op = "batchnorm_backward";
  int64_t c = channels_of(x, op);
  DYBAT_CHECK(x.is_contiguous() && dout.defined(), op, ": x must be contiguous and dout defined");
  for (auto [v, what] : {std::pair{&mean, "mean"}, {&invstd, "invstd"}, {&gamma, "gamma"}, {&beta, "beta"}})
    check_channel_vector(*v, c, x, op, what);
  if (dgamma.defined()) check_channel_vector(dgamma, c, x, op, "dgamma");
  if (dbeta.defined()) check_channel_vector(dbeta, c, x, op, "dbeta");
  check_like_x(dout, x, op, "dout");
  check_like_x(residual, x, op, "residual");
  check_like_x(dx, x, op, "dx");
  check_like_x(dresidual, x, op, "dresidual");
  if (x.numel() == 0) return;
  if (!dx.defined() && !dgamma.defined() && !dbeta.defined() && !dresidual.defined()) return;
  DYBAT_DISPATCH_DEVICE(x.device(), batchnorm_backward, dout, x, mean, invstd, gamma, beta, residual, act, batch_stats,
                        dx, dgamma, dbeta, dresidual);
}

namespace {

class BatchNormNode : public Node {
 public:
  BatchNormNode(Tensor x, Tensor gamma, Tensor beta, Tensor residual, Tensor mean, Tensor invstd, Act act,
                bool batch_stats)
      : x_(std::move(x)),
        gamma_(std::move(gamma)),
        beta_(std::move(beta)),
        residual_(std::move(residual)),
        mean_(std::move(mean)),
        invstd_(std::move(invstd)),
        act_(act),
        batch_stats_(batch_stats) {}
  const char* name() const override { return "BatchNormBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    std::vector<Tensor> g(4);
    if (needs_grad(0)) g[0] = Tensor::empty(x_.shape(), x_.dtype(), x_.device());
    if (needs_grad(1)) g[1] = grad_target(1, gamma_);
    if (needs_grad(2)) g[2] = grad_target(2, beta_);
    if (needs_grad(3)) g[3] = Tensor::empty(x_.shape(), x_.dtype(), x_.device());
    batchnorm_backward(dout.contiguous(), x_, mean_, invstd_, gamma_, beta_, residual_, act_, batch_stats_, g[0], g[1],
                       g[2], g[3]);
    return g;
  }
  void release() override { x_ = gamma_ = beta_ = residual_ = mean_ = invstd_ = Tensor(); }

 private:
  Tensor x_, gamma_, beta_, residual_;  // detached, contiguous; residual may be undefined
  Tensor mean_, invstd_;                // [C], the statistics the forward normalised with
  Act act_;
  bool batch_stats_;
};

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, const BatchNormOptions& opt, const Tensor& residual) {
  const char* op = "batch_norm";
  int64_t c = channels_of(x, op);
  int64_t n = c == 0 ? 0 : x.numel() / c;  // values per channel
  DYBAT_CHECK(opt.use_batch_stats || !opt.update_running, op,
              ": update_running needs use_batch_stats (running statistics cannot update themselves)");
  DYBAT_CHECK(!opt.use_batch_stats || n > 1, op, ": expected more than 1 value per channel when using batch ",
              "statistics (training), got input ", shape_str(x.shape()), "; use a batch of at least 2");
  bool need_running = !opt.use_batch_stats || opt.update_running;
  if (need_running) {
    check_channel_vector(running_mean, c, x, op, "running_mean");
    check_channel_vector(running_var, c, x, op, "running_var");
  }
  if (opt.sync && opt.use_batch_stats)
    return sync_batch_norm(x, gamma, beta, running_mean, running_var, opt, *opt.sync, residual);
  Tensor xc = x.contiguous(), gc = gamma.contiguous(), bc = beta.contiguous();
  Tensor rc = residual.defined() ? residual.contiguous() : Tensor();

  Tensor mean = Tensor::empty({c}, x.dtype(), x.device()), invstd = Tensor::empty({c}, x.dtype(), x.device());
  if (opt.use_batch_stats) {
    batchnorm_stats(xc, opt.eps, mean, invstd, opt.update_running ? running_mean : Tensor(),
                    opt.update_running ? running_var : Tensor(), opt.momentum);
  } else {
    copy_into(mean, running_mean);  // a snapshot: the buffers may change before the backward runs
    batchnorm_invstd(running_var, opt.eps, invstd);
  }
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  batchnorm_apply(xc, mean, invstd, gc, bc, rc, opt.act, out);

  if (autograd::needs_graph({&x, &gamma, &beta, &residual})) {
    auto node =
        std::make_shared<BatchNormNode>(xc.detach(), gc.detach(), bc.detach(), rc.defined() ? rc.detach() : Tensor(),
                                        mean, invstd, opt.act, opt.use_batch_stats);
    autograd::connect(node, {&x, &gamma, &beta, &residual}, out);
  }
  return out;
}

}  // namespace dybat
