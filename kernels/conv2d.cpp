// 2-d convolution: shape checks, device dispatch, and the autograd node of conv2d.
#include "kernels/conv2d.h"

#include <map>
#include <mutex>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/conv2d_choice.h"

namespace dybat {

int64_t conv_out_size(int64_t in, int64_t k, int stride, int pad, int dil) {
  DYBAT_CHECK(stride >= 1 && dil >= 1 && pad >= 0, "conv2d: stride (", stride, ") and dilation (", dil,
              ") must be >= 1 and padding (", pad, ") >= 0");
  int64_t span = static_cast<int64_t>(dil) * (k - 1) + 1;  // extent of the dilated kernel
  int64_t padded = in + 2 * static_cast<int64_t>(pad);
  DYBAT_CHECK(padded >= span, "conv2d: input size ", in, " with padding ", pad, " is smaller than the kernel extent ",
              span, " (kernel ", k, ", dilation ", dil, ")");
  return (padded - span) / stride + 1;
}

namespace {

std::string params_str(const Conv2dParams& p) {
  return detail::cat("stride (", p.stride_h, ", ", p.stride_w, "), padding (", p.pad_h, ", ", p.pad_w,
                     "), dilation (", p.dil_h, ", ", p.dil_w, "), groups ", p.groups);
}

// Checks x/weight against each other and the parameters, and returns the output shape. Every
// kernel-level entry point describes its tensors as (x, weight, out) and runs this, so the CPU and
// CUDA sides can trust their shapes.
Shape check_geometry(const char* op, const Tensor& x, const Tensor& weight, const Conv2dParams& p) {
  DYBAT_CHECK(x.dim() == 4, op, ": input must be 4-d [N, C_in, H, W], got ", shape_str(x.shape()));
  DYBAT_CHECK(weight.dim() == 4, op, ": weight must be 4-d [C_out, C_in/groups, kH, kW], got ",
              shape_str(weight.shape()));
  DYBAT_CHECK(p.groups >= 1, op, ": groups must be >= 1, got ", p.groups);
  DYBAT_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0, op,
              ": invalid parameters: ", params_str(p), " (stride and dilation must be >= 1, padding >= 0)");
  int64_t c_in = x.size(1), c_out = weight.size(0);
  DYBAT_CHECK(c_in % p.groups == 0 && c_out % p.groups == 0, op, ": groups ", p.groups,
              " must divide both the input channels of x ", shape_str(x.shape()), " and the output channels of weight ",
              shape_str(weight.shape()));
  DYBAT_CHECK(weight.size(1) * p.groups == c_in, op, ": input ", shape_str(x.shape()), " has ", c_in,
              " channels but weight ", shape_str(weight.shape()), " with groups ", p.groups, " expects ",
              weight.size(1) * p.groups);
  DYBAT_CHECK(weight.size(2) >= 1 && weight.size(3) >= 1, op, ": empty kernel in weight ", shape_str(weight.shape()));
  check_same_device(x, weight, op);
  check_same_dtype(x, weight, op);
  DYBAT_CHECK(!(x.dtype() == DType::BFloat16 && x.device().is_cpu()), op,
              ": bfloat16 convolutions run on CUDA only (mixed precision); the CPU computes in float32 or float64");
  int64_t oh = conv_out_size(x.size(2), weight.size(2), p.stride_h, p.pad_h, p.dil_h);
  int64_t ow = conv_out_size(x.size(3), weight.size(3), p.stride_w, p.pad_w, p.dil_w);
  return {x.size(0), c_out, oh, ow};
}

void check_tensor(const char* op, const char* what, const Tensor& t, const Shape& shape, const Tensor& like) {
  DYBAT_CHECK(t.defined(), op, ": ", what, " is undefined");
  DYBAT_CHECK(t.shape() == shape, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ", shape_str(shape));
  DYBAT_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  check_same_device(t, like, op);
  check_same_dtype(t, like, op);
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                    const Tensor& out) {
  const char* op = "conv2d";
  Shape out_shape = check_geometry(op, x, weight, p);
  check_tensor(op, "input", x, x.shape(), x);
  check_tensor(op, "weight", weight, weight.shape(), x);
  if (bias.defined()) check_tensor(op, "bias", bias, {weight.size(0)}, x);
  check_tensor(op, "output", out, out_shape, x);
  if (out.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(out.device(), conv2d_forward, x, weight, bias, p, out);
}

void conv2d_backward_input(const Tensor& dout, const Tensor& weight, const Conv2dParams& p, const Tensor& dx) {
  const char* op = "conv2d backward (input)";
  Shape out_shape = check_geometry(op, dx, weight, p);
  check_tensor(op, "dx", dx, dx.shape(), weight);
  check_tensor(op, "weight", weight, weight.shape(), weight);
  check_tensor(op, "dout", dout, out_shape, weight);
  if (dx.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(dx.device(), conv2d_backward_input, dout, weight, p, dx);
}

void conv2d_backward_weight(const Tensor& dout, const Tensor& x, const Conv2dParams& p, const Tensor& dweight) {
  const char* op = "conv2d backward (weight)";
  Shape out_shape = check_geometry(op, x, dweight, p);
  check_tensor(op, "input", x, x.shape(), x);
  check_tensor(op, "dweight", dweight, dweight.shape(), x);
  check_tensor(op, "dout", dout, out_shape, x);
  if (dweight.numel() == 0 || dout.numel() == 0) return;  // nothing to add
  DYBAT_DISPATCH_DEVICE(dweight.device(), conv2d_backward_weight, dout, x, p, dweight);
}

void conv2d_backward_bias(const Tensor& dout, const Tensor& dbias) {
  const char* op = "conv2d backward (bias)";
  DYBAT_CHECK(dout.dim() == 4, op, ": dout must be 4-d [N, C_out, H_out, W_out], got ", shape_str(dout.shape()));
  check_tensor(op, "dout", dout, dout.shape(), dout);
  check_tensor(op, "dbias", dbias, {dout.size(1)}, dout);
  if (dout.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(dout.device(), conv2d_backward_bias, dout, dbias);
}

namespace {

// Saves x and weight (detached). dx is a fresh tensor; dweight and dbias are added straight into
// the leaves' .grad (or into fresh zeros for non-leaf parameters) through grad_target.
class Conv2dBackward : public Node {
 public:
  Conv2dBackward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p)
      : x_(x.detach()), weight_(weight.detach()), bias_(bias.defined() ? bias.detach() : Tensor()), p_(p) {}
  const char* name() const override { return "Conv2dBackward"; }

  std::vector<Tensor> backward(const Tensor& dout_in) override {
    Tensor dout = dout_in.contiguous();
    std::vector<Tensor> grads(3);
    if (needs_grad(0)) {
      grads[0] = Tensor::empty(x_.shape(), x_.dtype(), x_.device());
      conv2d_backward_input(dout, weight_, p_, grads[0]);
    }
    if (needs_grad(1)) {
      grads[1] = grad_target(1, weight_);
      conv2d_backward_weight(dout, x_, p_, grads[1]);
    }
    if (needs_grad(2) && bias_.defined()) {
      grads[2] = grad_target(2, bias_);
      conv2d_backward_bias(dout, grads[2]);
    }
    return grads;
  }
  void release() override {
    x_ = Tensor();
    weight_ = Tensor();
    bias_ = Tensor();
  }

 private:
  Tensor x_, weight_, bias_;
  Conv2dParams p_;
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  DYBAT_CHECK(x.defined() && weight.defined(), "conv2d: input and weight must be defined");
  Tensor xc = x.contiguous(), wc = weight.contiguous();
  Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Shape out_shape = check_geometry("conv2d", xc, wc, p);
  if (bc.defined()) {
    DYBAT_CHECK(bc.dim() == 1 && bc.size(0) == wc.size(0), "conv2d: bias ", shape_str(bc.shape()),
                " does not match the ", wc.size(0), " output channels of weight ", shape_str(wc.shape()));
  }
  Tensor out = Tensor::empty(out_shape, xc.dtype(), xc.device());
  conv2d_forward(xc, wc, bc, p, out);
  if (autograd::needs_graph({&xc, &wc, &bc})) {
    auto node = std::make_shared<Conv2dBackward>(xc, wc, bc, p);
    autograd::connect(node, {&xc, &wc, &bc}, out);
  }
  return out;
}

// ---- the record of cuDNN algorithm choices --------------------------------------------------------

namespace {

// A record, and for each direction where its choice came from: imported (honoured under any
// settings, as long as cuDNN accepts it) or chosen in this process under the conditions noted
// (honoured only while the settings still give those conditions: a choice made by heuristics is
// no answer to a later request to measure).
struct Entry {
  ConvAlgoRecord rec;
  bool imported[3] = {false, false, false};
  ConvChoiceConditions made_under[3];
};

struct AlgoRegistry {
  std::mutex mu;
  std::map<std::vector<int64_t>, Entry> records;
  uint64_t generation = 0;  // advanced by clear and import (conv2d_choice.h)
};

// Leaked on purpose, like the plan cache it mirrors (used until the process ends).
AlgoRegistry& registry() {
  static AlgoRegistry* r = new AlgoRegistry();
  return *r;
}

bool valid_direction(int d) { return d >= 0 && d < 3; }

}  // namespace

bool ConvAlgoRecord::operator==(const ConvAlgoRecord& o) const {
  for (int d = 0; d < 3; ++d)
    if (algo[d] != o.algo[d] || math[d] != o.math[d]) return false;
  return key == o.key;
}

std::vector<ConvAlgoRecord> conv2d_algorithms() {
  AlgoRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<ConvAlgoRecord> out;
  for (auto& [key, e] : r.records) out.push_back(e.rec);
  return out;
}

void import_conv2d_algorithms(const std::vector<ConvAlgoRecord>& records) {
  AlgoRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const ConvAlgoRecord& in : records) {
    DYBAT_CHECK(!in.key.empty(), "conv2d algorithms: a record without a key");
    Entry& e = r.records[in.key];
    e.rec.key = in.key;
    for (int d = 0; d < 3; ++d)
      if (in.algo[d] >= 0) {
        e.rec.algo[d] = in.algo[d];
        e.rec.math[d] = in.math[d];
        e.imported[d] = true;
      }
  }
  ++r.generation;  // plans built before choose again, and find the imported choices
}

void clear_conv2d_algorithms() {
  AlgoRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.records.clear();
  ++r.generation;  // plans built before choose again (and record what they choose)
}

namespace detail {

bool find_conv2d_algorithm(const std::vector<int64_t>& key, int direction, int& algo, int& math) {
  DYBAT_CHECK(valid_direction(direction), "conv2d algorithms: direction ", direction, " outside [0, 3)");
  AlgoRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.records.find(key);
  if (it == r.records.end() || it->second.rec.algo[direction] < 0) return false;
  const Entry& e = it->second;
  if (!e.imported[direction] && e.made_under[direction] != current_conv_choice_conditions()) return false;
  algo = e.rec.algo[direction];
  math = e.rec.math[direction];
  return true;
}

void store_conv2d_algorithm(const std::vector<int64_t>& key, int direction, int algo, int math) {
  DYBAT_CHECK(valid_direction(direction), "conv2d algorithms: direction ", direction, " outside [0, 3)");
  AlgoRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  Entry& e = r.records[key];
  e.rec.key = key;
  e.rec.algo[direction] = algo;
  e.rec.math[direction] = math;
  e.imported[direction] = false;
  e.made_under[direction] = current_conv_choice_conditions();
}

uint64_t conv2d_record_generation() {
  AlgoRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.generation;
}

}  // namespace detail

}  // namespace dybat
