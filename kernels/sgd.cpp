// SGD update: argument checks and device dispatch.
#include "kernels/sgd.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/backend.h"

namespace dybat {

namespace {

// Shapes, dtypes and devices of one call; false when there is nothing to update.
bool check_sgd_args(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& bufs, const SgdOptions& opt) {
  bool use_buf = opt.momentum != 0.0;
  DYBAT_CHECK(grads.size() == params.size(), "sgd_update: ", params.size(), " parameters but ", grads.size(),
              " gradients");
  DYBAT_CHECK(bufs.size() == params.size() || (!use_buf && bufs.empty()), "sgd_update: ", params.size(),
              " parameters but ", bufs.size(), " momentum buffers");
  DYBAT_CHECK(opt.lr >= 0.0 && opt.momentum >= 0.0 && opt.weight_decay >= 0.0,
              "sgd_update: lr, momentum and weight_decay must be >= 0 (got ", opt.lr, ", ", opt.momentum, ", ",
              opt.weight_decay, ")");
  DYBAT_CHECK(!opt.nesterov || use_buf, "sgd_update: nesterov needs a momentum > 0");
  if (params.empty()) return false;
  const Tensor& first = params[0];
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    DYBAT_CHECK(p.defined(), "sgd_update: parameter ", i, " is undefined");
    DYBAT_CHECK(p.device() == first.device() && p.dtype() == first.dtype(), "sgd_update: parameter ", i, " is ",
                p.str(), " but parameter 0 is ", first.str(), " (one call takes one dtype and device)");
    DYBAT_CHECK(p.is_contiguous(), "sgd_update: parameter ", i, " must be contiguous");
    const Tensor& g = grads[i];
    if (!g.defined()) continue;
    DYBAT_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device() && g.is_contiguous(),
                "sgd_update: gradient ", i, " is ", g.str(), ", expected a contiguous ", p.str());
    if (!use_buf) continue;
    const Tensor& b = bufs[i];
    DYBAT_CHECK(b.defined() && b.shape() == p.shape() && b.dtype() == p.dtype() && b.device() == p.device() &&
                    b.is_contiguous(),
                "sgd_update: momentum buffer ", i, " is ", (b.defined() ? b.str() : std::string("undefined")),
                ", expected a contiguous ", p.str());
  }
  return true;
}

}  // namespace

void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt) {
  if (!check_sgd_args(params, grads, bufs, opt)) return;
  NoGradGuard no_grad;
  DYBAT_DISPATCH_DEVICE(params[0].device(), sgd_update, params, grads, bufs, opt);
}

void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt, const Tensor& lr) {
  if (!check_sgd_args(params, grads, bufs, opt)) return;
  DYBAT_CHECK(lr.defined() && lr.dtype() == DType::Float64 && lr.numel() == 1 && lr.device() == params[0].device(),
              "sgd_update: the learning rate must be one float64 element on ", params[0].device().str(), ", got ",
              lr.defined() ? lr.str() : std::string("an undefined tensor"));
  NoGradGuard no_grad;
  if (lr.device().is_cpu()) {
    // Host memory: the value is at hand (not a read of device memory).
    SgdOptions o = opt;
    o.lr = *lr.data<double>();
    DYBAT_CHECK(o.lr >= 0.0, "sgd_update: lr must be >= 0, got ", o.lr);
    return cpu::sgd_update(params, grads, bufs, o);
  }
#if defined(DYBAT_CUDA)
  cuda::sgd_update(params, grads, bufs, opt, lr);
#else
  detail::no_cuda("sgd_update");
#endif
}

}  // namespace dybat
