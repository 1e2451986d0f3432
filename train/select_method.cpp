// The selection methods' factory and the helpers they share (see select_method.h).
#include "train/select_method.h"

#include "core/autograd.h"
#include "kernels/loss.h"
#include "train/select_infobatch.h"
#include "train/select_random.h"
#include "train/select_sb.h"
#include "train/select_topk.h"

namespace dybat {

std::unique_ptr<SelectMethod> make_select_method(const MethodContext& ctx) {
  const std::string& m = ctx.cfg.select;
  DYBAT_CHECK(is_select_method(m), "--select: unknown method '", m, "'");
  DYBAT_CHECK(select_uses_delta(m) || ctx.plan.k == ctx.plan.num_batches, "--select ", m,
              " selects samples, not batches: it trains with --delta 1 (got ", ctx.cfg.delta, ")");
  if (m == "random") return make_random_select(ctx);
  if (m == "sample-topk") return make_topk_select(ctx);
  if (m == "selective-backprop") return make_sb_select(ctx);
  if (m == "infobatch") return make_infobatch_select(ctx);
  return nullptr;  // dybat: the trainer's own step
}

Tensor method_tensor(const NamedTensors& state, const std::string& name, const Tensor& like) {
  for (const auto& [n, t] : state) {
    if (n != name) continue;
    DYBAT_CHECK(t.shape() == like.shape() && t.dtype() == like.dtype(), "checkpoint: the selection state 'select.",
                name, "' is ", t.str(), " but this run needs ", like.str(), "; the data or the settings differ");
    return t;
  }
  DYBAT_FAIL("checkpoint: the selection state 'select.", name,
             "' is missing (a checkpoint of another --select method, or of an older version)");
}

Tensor scoring_losses(Module& net, const Tensor& x, const Tensor& y, DType dtype) {
  const Mode prev = net.mode();
  NoGradGuard no_grad;
  net.set_mode(Mode::EvalBatchStats);
  try {
    Tensor losses = cross_entropy(net(x.dtype() == dtype ? x : x.to(dtype)), y);
    net.set_mode(prev);
    return losses;
  } catch (...) {
    net.set_mode(prev);
    throw;
  }
}

}  // namespace dybat
