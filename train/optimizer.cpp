// SGD over a module and the learning-rate schedules (see optimizer.h).
#include "train/optimizer.h"

#include <cmath>
#include <map>

#include "core/copy.h"

namespace dybat {

Sgd::Sgd(const Module& model, const SgdOptions& options) : opt_(options), params_(model.named_parameters()) {
  for (auto& [name, p] : params_) bufs_.push_back(p.zeros_like());
}

void Sgd::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) fill_into(p.grad(), 0.0);
}

namespace {
// The parameters that have a gradient, with their gradients and buffers.
struct Updated {
  std::vector<Tensor> ps, gs, bs;
};
Updated with_grads(const NamedTensors& params, const std::vector<Tensor>& bufs) {
  Updated u;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& g = params[i].second.grad();
    if (!g.defined()) continue;
    u.ps.push_back(params[i].second);
    u.gs.push_back(g);
    u.bs.push_back(bufs[i]);
  }
  return u;
}
}  // namespace

void Sgd::step(double lr) {
  Updated u = with_grads(params_, bufs_);
  if (u.ps.empty()) return;
  SgdOptions o = opt_;
  o.lr = lr;
  sgd_update(u.ps, u.gs, u.bs, o);
}

void Sgd::step(const Tensor& lr) {
  Updated u = with_grads(params_, bufs_);
  if (u.ps.empty()) return;
  sgd_update(u.ps, u.gs, u.bs, opt_, lr);
}

NamedTensors Sgd::buffers() const {
  NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) out.emplace_back(params_[i].first, bufs_[i]);
  return out;
}

void Sgd::load_buffers(const NamedTensors& saved) {
  std::map<std::string, const Tensor*> by_name;
  for (auto& [name, t] : saved) by_name[name] = &t;
  DYBAT_CHECK(by_name.size() == params_.size(), "checkpoint: ", saved.size(), " momentum buffers for ",
              params_.size(), " parameters");
  for (size_t i = 0; i < params_.size(); ++i) {
    auto it = by_name.find(params_[i].first);
    DYBAT_CHECK(it != by_name.end(), "checkpoint: no momentum buffer for '", params_[i].first, "'");
    DYBAT_CHECK(it->second->shape() == bufs_[i].shape(), "checkpoint: momentum buffer '", params_[i].first,
                "' has shape ", shape_str(it->second->shape()), ", expected ", shape_str(bufs_[i].shape()));
    bufs_[i].copy_(*it->second);
  }
}

double LrSchedule::at(int64_t step) const {
  if (kind == "cosine") {
    double t = static_cast<double>(step) / static_cast<double>(total_steps > 0 ? total_steps : 1);
    return base * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  if (kind == "step") {
    double epoch = static_cast<double>(step) / static_cast<double>(steps_per_epoch);
    return base * std::pow(gamma, std::floor(epoch / step_epochs));
  }
  return base;
}

}  // namespace dybat
