// Softmax cross-entropy: device dispatch and the autograd node.
#include "kernels/loss.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/backend.h"

namespace dybat {

namespace {
void check_inputs(const Tensor& logits, const Tensor& labels) {
  DYBAT_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got ", shape_str(logits.shape()));
  DYBAT_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), "cross_entropy: labels must be [", logits.size(0),
              "] to match logits ", shape_str(logits.shape()), ", got ", shape_str(labels.shape()));
  DYBAT_CHECK(labels.dtype() == DType::Int64, "cross_entropy: labels must be int64, got ", dtype_name(labels.dtype()));
  check_same_device(logits, labels, "cross_entropy");
  DYBAT_CHECK(logits.size(1) > 0 || logits.size(0) == 0, "cross_entropy: logits have no classes (C = 0)");
  DYBAT_CHECK(logits.is_contiguous() && labels.is_contiguous(), "cross_entropy: inputs must be contiguous");
}
}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, const Tensor& losses) {
  check_inputs(logits, labels);
  DYBAT_CHECK(losses.shape() == Shape{logits.size(0)} && losses.is_contiguous(),
              "cross_entropy: losses must be contiguous [", logits.size(0), "]");
  check_same_dtype(logits, losses, "cross_entropy");
  if (logits.size(0) == 0) return;
  DYBAT_DISPATCH_DEVICE(logits.device(), cross_entropy_forward, logits, labels, losses);
}

void cross_entropy_backward(const Tensor& dlosses, const Tensor& logits, const Tensor& labels, const Tensor& dlogits) {
  check_inputs(logits, labels);
  DYBAT_CHECK(dlosses.shape() == Shape{logits.size(0)} && dlosses.is_contiguous(),
              "cross_entropy backward: dlosses must be contiguous [", logits.size(0), "]");
  DYBAT_CHECK(dlogits.shape() == logits.shape() && dlogits.is_contiguous(),
              "cross_entropy backward: dlogits must be contiguous ", shape_str(logits.shape()));
  check_same_dtype(logits, dlosses, "cross_entropy backward");
  check_same_dtype(logits, dlogits, "cross_entropy backward");
  if (logits.size(0) == 0) return;
  DYBAT_DISPATCH_DEVICE(logits.device(), cross_entropy_backward, dlosses, logits, labels, dlogits);
}

namespace {
class CrossEntropyNode : public Node {
 public:
  CrossEntropyNode(Tensor logits, Tensor labels) : logits_(std::move(logits)), labels_(std::move(labels)) {}
  const char* name() const override { return "CrossEntropyBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    Tensor dlogits = Tensor::empty(logits_.shape(), logits_.dtype(), logits_.device());
    cross_entropy_backward(dout.contiguous(), logits_, labels_, dlogits);
    return {dlogits, Tensor()};
  }
  void release() override { logits_ = labels_ = Tensor(); }

 private:
  Tensor logits_, labels_;  // [N, C] contiguous detached, [N] int64
};
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  check_inputs(logits.contiguous(), labels.contiguous());
  Tensor z = logits.contiguous(), y = labels.contiguous();
  Tensor losses = Tensor::empty({logits.size(0)}, logits.dtype(), logits.device());
  cross_entropy_forward(z, y, losses);
  if (autograd::needs_graph({&logits})) {
    auto node = std::make_shared<CrossEntropyNode>(z.detach(), y.detach());
    autograd::connect(node, {&logits, &labels}, losses);
  }
  return losses;
}

}  // namespace dybat
