// The selection methods' factory and the helpers they share (see select_method.h).
#include "train/select_method.h"

#include <cstdio>

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

std::string select_method_text(const TrainConfig& c) {
  char buf[256];
  if (c.select == "dybat") {
    if (c.delta < 1.0) {
      std::snprintf(buf, sizeof buf, "DyBAT delta %g", c.delta);
      return buf;
    }
    return "standard training (delta 1)";
  }
  if (c.select == "random") {
    std::snprintf(buf, sizeof buf, "random batches (the control), delta %g", c.delta);
  } else if (c.select == "sample-topk") {
    std::snprintf(buf, sizeof buf, "sample-topk: the %g of each batch with the highest losses, in [%g, %g) of the steps",
                  c.keep, c.keep_start, c.keep_end);
  } else if (c.select == "selective-backprop") {
    std::snprintf(buf, sizeof buf, "selective-backprop: keep with probability CDF(loss)^%g over the last %lld losses",
                  c.beta, static_cast<long long>(c.window));
  } else {
    std::snprintf(buf, sizeof buf, "infobatch: prune %g of the low-score samples, all samples in the last %g of the steps",
                  c.prune_ratio, c.anneal);
  }
  return buf;
}

uint64_t select_state_bytes(const TrainConfig& c, int64_t samples) {
  constexpr uint64_t kPerTensor = 256;
  const auto n = static_cast<uint64_t>(samples), B = static_cast<uint64_t>(c.batch_size);
  if (c.select == "selective-backprop") return static_cast<uint64_t>(c.window) * 4 + 2 * B * 8 + 32 + 3 * kPerTensor;
  if (c.select == "infobatch") return n * (4 + 8 + 4) + 32 + 4 * kPerTensor;
  return 0;
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
