// Forward runs for tools/forward (see forward_run.h).
#include "tools/lib/forward_run.h"

#include "core/autograd.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "layers/weights.h"
#include "nets/registry.h"

namespace dybat {

NamedTensors forward_outputs(Module& net, const Tensor& x, const Tensor& y, bool train) {
  NamedTensors out;
  if (!train) {
    net.eval();
    NoGradGuard no_grad;
    out.emplace_back("logits", net.forward(x).cpu());
    return out;
  }
  net.train();
  net.zero_grad();
  Tensor logits = net.forward(x);
  Tensor per_sample = cross_entropy(logits, y);
  Tensor loss = mean(per_sample);
  loss.backward();
  out.emplace_back("logits", logits.detach().cpu());
  out.emplace_back("per_sample_loss", per_sample.detach().cpu());
  out.emplace_back("loss", loss.detach().cpu());
  for (auto& [name, p] : net.named_parameters()) {
    DYBAT_CHECK(p.grad().defined(), "forward: parameter ", name, " received no gradient");
    out.emplace_back("grad." + name, p.grad().cpu());
  }
  for (auto& [name, b] : net.named_buffers()) out.emplace_back(name, b.cpu());
  return out;
}

namespace {
const Tensor* find(const SafetensorsContents& c, const std::string& name) {
  for (auto& [n, t] : c.tensors)
    if (n == name) return &t;
  return nullptr;
}
}  // namespace

void run_forward(const ForwardRequest& r) {
  const std::string net_name = canonical_net_name(r.net);
  DYBAT_CHECK(!net_name.empty(), "--net: unknown net '", r.net,
              "'; known nets: resnet18, resnet50, efficientnet_b4, efficientnetv2_s, mobilenetv3_small_100");
  DYBAT_CHECK(r.num_classes >= 1, "--classes: must be at least 1, got ", r.num_classes);
  DYBAT_CHECK(r.dtype == DType::Float32 || r.dtype == DType::Float64, "--dtype: must be float32 or float64");
  DYBAT_CHECK(r.device.is_cpu() || cuda_available(), "--device ", r.device.str(),
              ": no CUDA device is available (or this build has no CUDA backend); use --device cpu");

  // The input first: it is cheap to check and the most likely to be wrong.
  SafetensorsContents in;
  try {
    in = read_safetensors(r.input);
  } catch (const Error& e) {
    DYBAT_FAIL("--input: ", e.message());
  }
  const Tensor* x = find(in, "x");
  DYBAT_CHECK(x, "--input ", r.input, ": no tensor named 'x' (expected x: float32 [N, 3, H, W])");
  DYBAT_CHECK(x->dim() == 4 && x->size(1) == 3 && x->size(0) >= 1, "--input ", r.input,
              ": x must be [N, 3, H, W], got ", shape_str(x->shape()));
  DYBAT_CHECK(is_floating(x->dtype()), "--input ", r.input, ": x must be floating point, got ", dtype_name(x->dtype()));
  Tensor y;
  if (r.train) {
    const Tensor* yp = find(in, "y");
    DYBAT_CHECK(yp, "--input ", r.input, ": train mode needs labels 'y' (int64 [N])");
    DYBAT_CHECK(!is_floating(yp->dtype()), "--input ", r.input, ": y must hold integer labels, got ",
                dtype_name(yp->dtype()));
    DYBAT_CHECK(yp->dim() == 1 && yp->size(0) == x->size(0), "--input ", r.input, ": y must be [", x->size(0),
                "] to match x, got ", shape_str(yp->shape()));
    y = yp->to(DType::Int64);
    // Checked here, on the host: a CUDA loss would turn a bad label into NaN instead.
    for (int64_t v : y.to_vector<int64_t>())
      DYBAT_CHECK(v >= 0 && v < r.num_classes, "--input ", r.input, ": label ", v, " is outside [0, ", r.num_classes,
                  ")");
  }

  Generator g(0);
  auto net = create_net(net_name, r.num_classes, g);
  try {
    load_weights(*net, r.weights);
  } catch (const Error& e) {
    DYBAT_FAIL("--weights: ", e.message());
  }
  net->to(r.dtype);
  net->to(r.device);
  Tensor xd = x->to(r.dtype).to(r.device);
  if (y.defined()) y = y.to(r.device);

  NamedTensors out;
  try {
    out = forward_outputs(*net, xd, y, r.train);
  } catch (const Error& e) {
    DYBAT_FAIL("--input ", r.input, ": ", e.message());
  }
  try {
    write_safetensors(
        r.output, out,
        {{"format", "pt"}, {"net", net_name}, {"mode", r.train ? "train" : "eval"}, {"dtype", dtype_name(r.dtype)}});
  } catch (const Error& e) {
    DYBAT_FAIL("--output: ", e.message());
  }
}

}  // namespace dybat
