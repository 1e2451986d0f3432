// SGD update: argument checks and device dispatch.
#include "kernels/sgd.h"

#include "core/autograd.h"
#include "core/dispatch.h"

namespace dybat {

void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt) {
  bool use_buf = opt.momentum != 0.0;
  DYBAT_CHECK(grads.size() == params.size(), "sgd_update: ", params.size(), " parameters but ", grads.size(),
              " gradients");
  DYBAT_CHECK(bufs.size() == params.size() || (!use_buf && bufs.empty()), "sgd_update: ", params.size(),
              " parameters but ", bufs.size(), " momentum buffers");
  DYBAT_CHECK(opt.lr >= 0.0 && opt.momentum >= 0.0 && opt.weight_decay >= 0.0,
              "sgd_update: lr, momentum and weight_decay must be >= 0 (got ", opt.lr, ", ", opt.momentum, ", ",
              opt.weight_decay, ")");
  DYBAT_CHECK(!opt.nesterov || use_buf, "sgd_update: nesterov needs a momentum > 0");
  if (params.empty()) return;
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
  NoGradGuard no_grad;
  DYBAT_DISPATCH_DEVICE(first.device(), sgd_update, params, grads, bufs, opt);
}

}  // namespace dybat
