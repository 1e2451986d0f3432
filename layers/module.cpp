// Module traversal, registration and state (see module.h).
#include "layers/module.h"

namespace dybat {

Tensor Module::forward(const Tensor&) { DYBAT_FAIL(type_name_, " has no single-input forward()"); }

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  DYBAT_CHECK(t.defined(), "register_parameter('", name, "'): undefined tensor");
  if (!t.requires_grad()) t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  DYBAT_CHECK(t.defined(), "register_buffer('", name, "'): undefined tensor");
  buffers_.emplace_back(name, t);
  return t;
}

namespace {
void collect(const Module& m, const std::string& prefix, bool params, bool buffers,
             std::vector<std::pair<std::string, Tensor>>& out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(*this, "", true, false, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(*this, "", false, true, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(*this, "", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

namespace {
void collect(const Module& m, const std::string& prefix, bool params, bool buffers,
             std::vector<std::pair<std::string, Tensor>>& out) {
  // A module's own parameters, then its own buffers, then its children: PyTorch's order.
  if (params)
    for (auto& [name, t] : m.own_parameters()) out.emplace_back(prefix + name, t);
  if (buffers)
    for (auto& [name, t] : m.own_buffers()) out.emplace_back(prefix + name, t);
  for (auto& [name, child] : m.children()) collect(*child, prefix + name + ".", params, buffers, out);
}
}  // namespace

void Module::visit(const std::function<void(const std::string&, Module&)>& fn, const std::string& prefix) {
  fn(prefix, *this);
  for (auto& [name, child] : children_) child->visit(fn, prefix.empty() ? name : prefix + "." + name);
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::set_mode(Mode m) {
  mode_ = m;
  on_mode_change();
  for (auto& [name, child] : children_) child->set_mode(m);
}

void Module::to(Device device) {
  for (auto& [name, t] : state_dict()) {
    Tensor h = t;
    h.set_data(t.to(device));
  }
}

void Module::to(DType dtype) {
  for (auto& [name, t] : state_dict()) {
    if (!is_floating(t.dtype())) continue;
    Tensor h = t;
    h.set_data(t.to(dtype));
  }
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) {
    Tensor h = t;
    h.set_grad(Tensor());
  }
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& [name, child] : children()) y = child->forward(y);
  return y;
}

}  // namespace dybat
