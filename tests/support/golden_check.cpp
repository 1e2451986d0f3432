// The golden check of one net (see golden_check.h).
#include "support/golden_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/autograd.h"
#include "core/settings.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "nets/registry.h"
#include "support/net_util.h"
#include "support/test_util.h"

namespace dybat::test {

namespace {

// The worst error of one quantity, as a fraction of its tolerance (<= 1 passes).
struct Worst {
  double diff = 0, ratio = 0;
  std::string where;
  void add(double d, double tol, const std::string& w) {
    if (d / tol > ratio || where.empty()) {
      ratio = d / tol;
      diff = d;
      where = w;
    }
  }
};

std::vector<double> flat(const Tensor& t) { return t.cpu().to(DType::Float64).to_vector<double>(); }

double l2(const Tensor& t) {
  double s = 0;
  for (double v : flat(t)) s += v * v;
  return std::sqrt(s);
}

double host_sum(const Tensor& t) {
  double s = 0;
  for (double v : flat(t)) s += v;
  return s;
}

// Max |a - b| over a [N, C] tensor and a nested JSON array, and the largest |reference|.
std::pair<double, double> compare_rows(const Tensor& a, const nlohmann::json& ref) {
  auto v = flat(a);
  double diff = 0, scale = 0;
  size_t i = 0;
  for (auto& row : ref)
    for (auto& x : row) {
      double r = x.get<double>();
      scale = std::max(scale, std::abs(r));
      diff = std::max(diff, std::abs(v.at(i++) - r));
    }
  EXPECT_EQ(i, v.size());
  return {diff, scale};
}

}  // namespace

// Every golden check of `net_name` in `dtype` on `device` (float64 only on the CPU).
void check_golden(const std::string& net_name, DType dtype, Device device) {
  const auto ref = read_json(data_file("golden/" + net_name + ".json"));
  // float64 tolerances are 1e4 tighter than float32's.
  const double tighten = dtype == DType::Float64 ? 1e-4 : 1.0;
  Generator g(0);
  auto net = create_net(net_name, ref["num_classes"].get<int>(), g);
  net->to(dtype);

  // 1. Weights by the formula; their sum proves the formula and timm's key order.
  const double weight_sum = set_golden_weights(*net);
  const double ref_sum = ref["weight_sum"].get<double>();
  ASSERT_NEAR(weight_sum, ref_sum, 1e-9 * std::abs(ref_sum)) << "weight_sum: the formula or the key order differs";
  net->to(device);

  // 2. Eval mode: running statistics.
  net->eval();
  Tensor eval_logits;
  {
    NoGradGuard no_grad;
    eval_logits = net->forward(golden_input({2, 3, 64, 64}, dtype).to(device));
  }
  auto [eval_diff, eval_scale] = compare_rows(eval_logits, ref["eval"]["logits"]);
  const double eval_tol = 1e-4 * tighten * eval_scale;
  EXPECT_LE(eval_diff, eval_tol) << "eval logits";

  // 3. Train mode: batch statistics, one forward and backward of the mean cross-entropy.
  net->train();
  const auto& tr = ref["train"];
  Tensor x = golden_input({4, 3, 64, 64}, dtype).to(device);
  Tensor y = golden_labels(4);
  ASSERT_EQ(y.to_vector<int64_t>(), tr["labels"].get<std::vector<int64_t>>());
  y = y.to(device);
  Tensor logits = net->forward(x);
  Tensor per_sample = cross_entropy(logits, y);
  Tensor loss = mean(per_sample);
  loss.backward();

  auto [train_diff, train_scale] = compare_rows(logits, tr["logits"]);
  const double train_tol = 1e-3 * tighten * train_scale;
  EXPECT_LE(train_diff, train_tol) << "train logits";
  const double ref_loss = tr["loss"].get<double>();
  const double loss_diff = std::abs(loss.item() - ref_loss), loss_tol = 1e-3 * tighten * std::abs(ref_loss);
  EXPECT_LE(loss_diff, loss_tol) << "loss";
  Worst per_sample_worst;
  auto ps = flat(per_sample);
  for (size_t n = 0; n < ps.size(); ++n) {
    double r = tr["per_sample_loss"][n].get<double>();
    per_sample_worst.add(std::abs(ps[n] - r), 1e-3 * tighten * std::abs(r), "sample " + std::to_string(n));
  }
  EXPECT_LE(per_sample_worst.ratio, 1.0) << "per-sample loss, " << per_sample_worst.where;

  // Gradient norms: g within 1e-2 g_ref + 1e-4 G_ref, G_ref the norm of all gradients together.
  const auto& grads = tr["grads"];
  double G_ref = 0;
  for (auto& [name, v] : grads.items()) G_ref += std::pow(v["l2"].get<double>(), 2);
  G_ref = std::sqrt(G_ref);
  Worst grad_worst;
  size_t n_grads = 0;
  for (auto& [name, p] : net->named_parameters()) {
    ASSERT_TRUE(grads.contains(name)) << name << " has no reference gradient";
    ASSERT_TRUE(p.grad().defined()) << name << " got no gradient";
    const double g_ref = grads[name]["l2"].get<double>();
    const double tol = tighten * (1e-2 * g_ref + 1e-4 * G_ref);
    const double d = std::abs(l2(p.grad()) - g_ref);
    EXPECT_LE(d, tol) << "gradient norm of " << name << ": " << l2(p.grad()) << " vs " << g_ref;
    grad_worst.add(d, tol, name);
    ++n_grads;
  }
  EXPECT_EQ(n_grads, grads.size());

  // Running statistics after the one training forward: sum within 1e-4 |ref| + 1e-6 C.
  const auto& running = tr["running_after"];
  Worst run_worst;
  size_t n_running = 0;
  for (auto& [name, t] : net->named_buffers()) {
    if (!name.ends_with("running_mean") && !name.ends_with("running_var")) continue;
    ASSERT_TRUE(running.contains(name)) << name;
    const double r = running[name]["sum"].get<double>();
    const double tol = tighten * (1e-4 * std::abs(r) + 1e-6 * static_cast<double>(t.numel()));
    const double d = std::abs(host_sum(t) - r);
    EXPECT_LE(d, tol) << name << ": " << host_sum(t) << " vs " << r;
    run_worst.add(d, tol, name);
    ++n_running;
  }
  EXPECT_EQ(n_running, running.size());
  for (auto& [name, t] : net->named_buffers()) {
    if (name.ends_with("num_batches_tracked")) {
      EXPECT_EQ(t.cpu().to_vector<int64_t>(), std::vector<int64_t>{1}) << name;
    }
  }

  // One line per quantity with its max difference, then the overall verdict (STYLE habit 9).
  std::printf("[golden %s %s on %s] weights from %s\n", net_name.c_str(), dtype_name(dtype), device.str().c_str(),
              golden_sin_name());
  std::printf("  weight_sum       diff %.3e\n", std::abs(weight_sum - ref_sum));
  std::printf("  eval logits      max diff %.3e  (tol %.1e)\n", eval_diff, eval_tol);
  std::printf("  train logits     max diff %.3e  (tol %.1e)\n", train_diff, train_tol);
  std::printf("  per-sample loss  max diff %.3e  (%.3f of tol)\n", per_sample_worst.diff, per_sample_worst.ratio);
  std::printf("  loss             diff %.3e  (tol %.1e)\n", loss_diff, loss_tol);
  std::printf("  grad norms (%zu)  worst %.3e at %s  (%.3f of tol)\n", n_grads, grad_worst.diff,
              grad_worst.where.c_str(), grad_worst.ratio);
  std::printf("  running (%zu)     worst %.3e at %s  (%.3f of tol)\n", n_running, run_worst.diff,
              run_worst.where.c_str(), run_worst.ratio);
  const double overall = std::max({eval_diff / eval_tol, train_diff / train_tol, loss_diff / loss_tol,
                                   per_sample_worst.ratio, grad_worst.ratio, run_worst.ratio});
  std::printf("  overall: worst quantity at %.3f of its tolerance -> %s\n", overall, overall <= 1 ? "PASS" : "FAIL");
}

}  // namespace dybat::test
