// The autograd engine: graph recording helpers and the backward pass (see autograd.h).
#include "core/autograd.h"

#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "core/copy.h"

namespace dybat {

namespace {
thread_local bool g_grad_enabled = true;
thread_local autograd::GradReadyHook g_grad_ready;

// A gradient can be stored as-is only if nothing else shares its memory (the storage's only
// holder is this tensor); otherwise a later in-place accumulation would write into another tensor.
bool owns_storage(const Tensor& g) { return g.storage().use_count() == 1 && g.is_contiguous(); }

// Adds `g` into the gradient slot `slot` (undefined: take g, copying if it shares memory).
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = owns_storage(g) ? g.detach() : g.clone();
    return;
  }
  DYBAT_CHECK(slot.shape() == g.shape(), "autograd: gradient of shape ", shape_str(g.shape()),
              " for a tensor of shape ", shape_str(slot.shape()));
  add_into(slot, g);
}
}  // namespace

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool on) { g_grad_enabled = on; }

Tensor Node::grad_target(size_t i, const Tensor& like) {
  DYBAT_CHECK(i < next.size(), "grad_target: input ", i, " out of range");
  if (next[i].leaf) {
    Tensor& g = next[i].leaf->grad;
    if (!g.defined()) {
      g = Tensor::zeros(like.shape(), like.dtype(), like.device());
    } else if (!owns_storage(g)) {
      g = g.clone();  // never add into memory another tensor can see
    }
    if (consumed.size() < next.size()) consumed.resize(next.size(), false);
    consumed[i] = true;
    return g;
  }
  return Tensor::zeros(like.shape(), like.dtype(), like.device());
}

namespace autograd {

bool needs_graph(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_graph(const std::vector<Tensor>& inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
Edge edge_for(const Tensor* t) {
  Edge e;
  if (!t || !t->defined() || !t->requires_grad()) return e;
  if (t->grad_fn())
    e.fn = t->grad_fn();
  else
    e.leaf = t->impl();
  return e;
}
}  // namespace

void connect(const std::shared_ptr<Node>& node, std::initializer_list<const Tensor*> inputs, Tensor& out) {
  node->next.clear();
  for (const Tensor* t : inputs) node->next.push_back(edge_for(t));
  out.set_grad_fn(node);
}

void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs, Tensor& out) {
  node->next.clear();
  for (const Tensor& t : inputs) node->next.push_back(edge_for(&t));
  out.set_grad_fn(node);
}

GradReadyScope::GradReadyScope(GradReadyHook hook) : prev_(std::move(g_grad_ready)) { g_grad_ready = std::move(hook); }
GradReadyScope::~GradReadyScope() { g_grad_ready = std::move(prev_); }

void run_backward(const Tensor& root, const Tensor& dout) {
  DYBAT_CHECK(root.requires_grad(), "backward: the tensor does not require a gradient (no input requires_grad, "
                                    "or it was computed under NoGradGuard)");
  DYBAT_CHECK(dout.shape() == root.shape(), "backward: gradient shape ", shape_str(dout.shape()),
              " does not match output shape ", shape_str(root.shape()));
  const GradReadyHook ready_hook = g_grad_ready;  // a copy: a hook may install scopes of its own
  if (root.is_leaf()) {
    accumulate(root.impl()->grad, dout);
    if (ready_hook) ready_hook(*root.impl());
    return;
  }
  NoGradGuard no_grad;  // backward formulas are not themselves recorded

  // Count, for every node reachable from the root, how many edges point into it (and, when a
  // gradient-ready hook is installed, into every leaf).
  std::unordered_map<Node*, int> deps;
  std::unordered_map<TensorImpl*, int> leaf_deps;
  std::vector<Node*> stack{root.grad_fn().get()};
  std::unordered_set<Node*> seen{stack.back()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (e.leaf && ready_hook) ++leaf_deps[e.leaf.get()];
      if (!e.fn) continue;
      ++deps[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }
  // Marks one edge into a leaf as processed; the last one makes the leaf's gradient final.
  auto leaf_done = [&](const std::shared_ptr<TensorImpl>& leaf) {
    if (ready_hook && --leaf_deps[leaf.get()] == 0) ready_hook(*leaf);
  };

  // Kahn's algorithm: a node runs once every gradient flowing into it has arrived.
  std::unordered_map<Node*, Tensor> pending;
  std::deque<std::shared_ptr<Node>> ready{root.grad_fn()};
  pending[root.grad_fn().get()] = dout;
  // A node with no incoming gradient at all is skipped, but its inputs still count it as done.
  std::vector<Node*> skipped;
  auto arrive = [&](const std::shared_ptr<Node>& fn) {
    if (--deps[fn.get()] != 0) return;
    if (pending[fn.get()].defined())
      ready.push_back(fn);
    else
      skipped.push_back(fn.get());
  };
  while (!ready.empty() || !skipped.empty()) {
    if (ready.empty()) {
      Node* s = skipped.back();
      skipped.pop_back();
      pending.erase(s);
      for (const Edge& e : s->next) {
        if (e.fn) arrive(e.fn);
        if (e.leaf) leaf_done(e.leaf);
      }
      continue;
    }
    std::shared_ptr<Node> node = ready.front();
    ready.pop_front();
    DYBAT_CHECK(!node->ran, "backward: the graph through ", node->name(),
                " was already backpropagated and its saved tensors freed; recompute the forward pass");
    Tensor g = std::move(pending[node.get()]);
    pending.erase(node.get());
    node->consumed.assign(node->next.size(), false);
    std::vector<Tensor> grads = node->backward(g);
    DYBAT_CHECK(grads.size() == node->next.size(), "autograd: ", node->name(), " returned ", grads.size(),
                " gradients for ", node->next.size(), " inputs");
    node->ran = true;
    node->release();
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->next[i];
      if (!e.defined()) continue;
      bool has = grads[i].defined() && !node->consumed[i];
      if (e.fn) {
        if (has) accumulate(pending[e.fn.get()], grads[i]);
        arrive(e.fn);
      } else {
        if (has) accumulate(e.leaf->grad, grads[i]);
        leaf_done(e.leaf);
      }
    }
  }
}

}  // namespace autograd
}  // namespace dybat
