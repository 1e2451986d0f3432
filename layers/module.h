// Module: the base of every layer, block and net. It owns named parameters, buffers and child
// modules, and knows its mode (training or evaluation).
//
// Registration order is the state_dict order, by PyTorch's rule: a module lists its own
// parameters, then its own buffers, then each child in registration order, depth first, with
// dotted names ("layer1.0.bn1.running_mean"). Build a module's children in the order the
// reference constructor does and the keys come out in timm's order.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace dybat {

// How a module runs. BatchNorm: Train normalises with batch statistics and updates the running
// ones; EvalBatchStats normalises with batch statistics and leaves the running ones alone (the
// DyBAT paper's evaluation, which never called model.eval()); Eval uses the running statistics.
// Dropout is active only in Train.
enum class Mode { Train, EvalBatchStats, Eval };

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  const std::string& type_name() const { return type_name_; }

  // ---- registration (returns a handle that shares the registered tensor) ------------------------
  Tensor register_parameter(const std::string& name, Tensor t);  // sets requires_grad
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

  // ---- traversal ------------------------------------------------------------------------------
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // Parameters and buffers together, in state_dict order.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  std::vector<Tensor> parameters() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  const std::vector<std::pair<std::string, Tensor>>& own_parameters() const { return params_; }
  const std::vector<std::pair<std::string, Tensor>>& own_buffers() const { return buffers_; }
  // Calls fn(prefix, module) on this module and every descendant, depth first (prefix "" here).
  void visit(const std::function<void(const std::string&, Module&)>& fn, const std::string& prefix = "");
  int64_t parameter_count() const;

  // ---- state ----------------------------------------------------------------------------------
  void set_mode(Mode m);  // this module and all descendants
  void train() { set_mode(Mode::Train); }
  void eval() { set_mode(Mode::Eval); }
  Mode mode() const { return mode_; }
  bool is_training() const { return mode_ == Mode::Train; }
  // Moves/converts every parameter and buffer in place (handles stay valid). Integer buffers
  // keep their dtype when converting.
  void to(Device device);
  void to(DType dtype);
  void zero_grad();  // drops every parameter's gradient

 protected:
  virtual void on_mode_change() {}

 private:
  std::string type_name_;
  Mode mode_ = Mode::Train;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Runs children in order; children are named "0", "1", ... as torch.nn.Sequential.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    return register_module(std::to_string(children().size()), std::move(m));
  }
  Tensor forward(const Tensor& x) override;
};

}  // namespace dybat
