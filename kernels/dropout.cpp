// Dropout: argument checks, device dispatch and the autograd node (the mask is regenerated).
#include "kernels/dropout.h"

#include "core/autograd.h"
#include "core/capture.h"
#include "core/dispatch.h"
#include "kernels/backend.h"

namespace dybat {

void dropout_apply(const Tensor& x, double p, uint64_t seed, uint64_t offset, const Tensor& out) {
  DYBAT_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  check_same_device(x, out, "dropout");
  check_same_dtype(x, out, "dropout");
  DYBAT_CHECK(x.shape() == out.shape() && x.is_contiguous() && out.is_contiguous(),
              "dropout: x and out must be contiguous with one shape, got ", x.str(), " and ", out.str());
  if (x.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(x.device(), dropout_apply, x, p, seed, offset, out);
}

namespace {
// dx = dout * mask / (1 - p): the same function of (seed, offset, i) applied to dout.
class DropoutNode : public Node {
 public:
  DropoutNode(double p, uint64_t seed, uint64_t offset) : p_(p), seed_(seed), offset_(offset) {}
  const char* name() const override { return "DropoutBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    Tensor d = dout.contiguous();
    Tensor dx = Tensor::empty(d.shape(), d.dtype(), d.device());
    dropout_apply(d, p_, seed_, offset_, dx);
    return {dx};
  }

 private:
  double p_;
  uint64_t seed_, offset_;
};
}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& g) {
  DYBAT_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  // The stream offset is drawn on the host and passed by value: a captured graph would replay the
  // same mask every step, so dropout in training cannot be captured (none of the five nets uses it).
  capture_check("drawing a dropout mask (its random offset comes from the host)");
  uint64_t offset = g.next_offset();
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  dropout_apply(xc, p, g.seed, offset, out);
  if (autograd::needs_graph({&x})) {
    auto node = std::make_shared<DropoutNode>(p, g.seed, offset);
    autograd::connect(node, {&x}, out);
  }
  return out;
}

}  // namespace dybat
