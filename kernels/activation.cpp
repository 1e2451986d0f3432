// Activation functions: names, device dispatch and the autograd node.
#include "kernels/activation.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/backend.h"

namespace dybat {

const char* act_name(Act a) {
  switch (a) {
    case Act::None:
      return "none";
    case Act::ReLU:
      return "relu";
    case Act::ReLU6:
      return "relu6";
    case Act::Sigmoid:
      return "sigmoid";
    case Act::SiLU:
      return "silu";
    case Act::HardSigmoid:
      return "hardsigmoid";
    case Act::HardSwish:
      return "hardswish";
  }
  return "unknown";
}

void activation_forward(Act act, const Tensor& x, const Tensor& out) {
  check_same_device(x, out, "activation");
  check_same_dtype(x, out, "activation");
  DYBAT_CHECK(x.shape() == out.shape() && x.is_contiguous() && out.is_contiguous(), "activation ", act_name(act),
              ": x and out must be contiguous with one shape, got ", x.str(), " and ", out.str());
  if (x.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), activation_forward, act, x, out);
}

void activation_backward(Act act, const Tensor& dout, const Tensor& x, const Tensor& out, const Tensor& dx) {
  for (const Tensor* t : {&dout, &out, &dx}) {
    if (!t->defined() && t == &out) continue;  // out is optional: recomputed from x when absent
    check_same_device(x, *t, "activation backward");
    check_same_dtype(x, *t, "activation backward");
    DYBAT_CHECK(t->shape() == x.shape() && t->is_contiguous(), "activation ", act_name(act),
                " backward: tensors must be contiguous ", shape_str(x.shape()), ", got ", t->str());
  }
  DYBAT_CHECK(x.is_contiguous(), "activation backward: x must be contiguous");
  if (x.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), activation_backward, act, dout, x, out, dx);
}

namespace {
// dx = dout * act'(x); sigmoid's derivative is taken from the saved output, as PyTorch does.
class ActivationNode : public Node {
 public:
  ActivationNode(Act act, Tensor x, Tensor out) : act_(act), x_(std::move(x)), out_(std::move(out)) {}
  const char* name() const override { return "ActivationBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    Tensor dx = Tensor::empty(x_.shape(), x_.dtype(), x_.device());
    activation_backward(act_, dout.contiguous(), x_, out_, dx);
    return {dx};
  }
  void release() override { x_ = out_ = Tensor(); }

 private:
  Act act_;
  Tensor x_, out_;  // detached; out_ only for sigmoid
};
}  // namespace

Tensor activation(const Tensor& x, Act act) {
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  activation_forward(act, xc, out);
  if (autograd::needs_graph({&x})) {
    auto node = std::make_shared<ActivationNode>(act, xc.detach(), act == Act::Sigmoid ? out.detach() : Tensor());
    autograd::connect(node, {&x}, out);
  }
  return out;
}

}  // namespace dybat
