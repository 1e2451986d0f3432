// Reverse-mode automatic differentiation.
//
// Every differentiable op, when any input requires a gradient and grad mode is on, records a
// Node: an object that knows how to turn dL/d(output) into dL/d(inputs). Nodes point to the nodes
// of their inputs (or to the leaf tensors themselves), forming a graph that backward() walks in
// topological order. The graph lives as long as the output tensors that reference it.
//
// Conventions (the contract every op's backward follows):
//  - A node saves what its backward needs as *detached* tensors (saving the output with its own
//    grad_fn would make a reference cycle).
//  - Activation gradients are assigned: backward returns fresh tensors.
//  - Parameter gradients accumulate: an op that can add its gradient straight into a leaf's .grad
//    (conv and linear weights, BN gamma/beta) asks grad_target(i) for the buffer and adds into
//    it, which saves a buffer and a pass per parameter per step; the engine then skips input i.
//  - Saved tensors are released once a node has run, so calling backward twice on one graph is
//    an error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dybat {

// Where a gradient flows: into another node, or into a leaf tensor's .grad (at most one set).
struct Edge {
  std::shared_ptr<Node> fn;
  std::shared_ptr<TensorImpl> leaf;
  bool defined() const { return fn != nullptr || leaf != nullptr; }
};

class Node {
 public:
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // dL/d(output) in; one gradient per input edge out (undefined where not needed).
  virtual std::vector<Tensor> backward(const Tensor& dout) = 0;
  // Frees saved tensors (called by the engine after backward()).
  virtual void release() {}

  // True when input i needs a gradient (its edge leads somewhere).
  bool needs_grad(size_t i) const { return i < next.size() && next[i].defined(); }
  // The buffer the gradient of input i should be *added* into: the leaf's .grad (created as zeros
  // when absent), or a fresh zero tensor shaped like `like` for a non-leaf (which backward must
  // then return at position i). See the accumulation convention above.
  Tensor grad_target(size_t i, const Tensor& like);

  std::vector<Edge> next;
  std::vector<bool> consumed;  // set by grad_target for leaf inputs already written
  bool ran = false;            // set once backward() has run (saved tensors are gone)
};

// Thread-local switch: when off, ops record nothing (evaluation, optimizer updates).
struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};

class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

namespace autograd {

// True when grad mode is on and any of the inputs requires a gradient.
bool needs_graph(std::initializer_list<const Tensor*> inputs);
bool needs_graph(const std::vector<Tensor>& inputs);

// Links `node` to the inputs (edges in the same order as the inputs) and makes it the grad_fn of
// `out`, which then requires a gradient.
void connect(const std::shared_ptr<Node>& node, std::initializer_list<const Tensor*> inputs, Tensor& out);
void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs, Tensor& out);

// Runs backpropagation from `root` with gradient `dout` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& dout);

// Called with a leaf once its gradient for the running backward pass is final: every edge of the
// graph that leads into the leaf has been processed (its gradient added into .grad, or found to
// carry none). Leaves the pass does not reach are not reported. The order is the order in which
// the pass completes the leaves, which depends only on the graph, so processes that build the
// same graph see the same order. Data-parallel training starts each gradient's reduction across
// processes from here, so the communication overlaps the rest of the backward pass.
using GradReadyHook = std::function<void(const TensorImpl& leaf)>;

// Installs a hook for the backward passes run on this thread while the scope lives (scopes nest;
// the innermost one is called).
class GradReadyScope {
 public:
  explicit GradReadyScope(GradReadyHook hook);
  ~GradReadyScope();
  GradReadyScope(const GradReadyScope&) = delete;
  GradReadyScope& operator=(const GradReadyScope&) = delete;

 private:
  GradReadyHook prev_;
};

// A node whose backward is a lambda; convenient for simple ops and for tests.
class LambdaNode : public Node {
 public:
  using Fn = std::function<std::vector<Tensor>(const Tensor&)>;
  LambdaNode(const char* name, Fn fn) : name_(name), fn_(std::move(fn)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> backward(const Tensor& dout) override { return fn_(dout); }
  void release() override { fn_ = nullptr; }

 private:
  const char* name_;
  Fn fn_;
};

}  // namespace autograd
}  // namespace dybat
