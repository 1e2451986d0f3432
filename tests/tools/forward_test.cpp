// tools/forward end to end: golden weights and inputs written to safetensors, the built program
// run in eval and train mode (float32 and float64), its output checked against timm's golden
// values; then every kind of bad input. On the GPU: tests/cuda/forward_tool_cuda_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/safetensors.h"
#include "layers/weights.h"
#include "nets/registry.h"
#include "support/forward_files.h"
#include "support/net_util.h"
#include "support/run_util.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;
namespace fs = std::filesystem;

namespace {

double max_logit_diff(const Tensor& logits, const nlohmann::json& ref, double& scale) {
  auto v = logits.to(DType::Float64).to_vector<double>();
  double d = 0;
  size_t i = 0;
  scale = 0;
  for (auto& row : ref)
    for (auto& x : row) {
      scale = std::max(scale, std::abs(x.get<double>()));
      d = std::max(d, std::abs(v.at(i++) - x.get<double>()));
    }
  return d;
}

}  // namespace

TEST(ForwardTool, EvalAndTrainMatchTimmsGoldenValues) {
  ForwardFiles f;
  auto net = write_golden_weights(f.weights);
  auto ref = read_json(data_file(std::string("golden/") + kForwardNet + ".json"));

  write_safetensors(f.input, {{"x", golden_input({2, 3, 64, 64}, DType::Float32)}});
  auto r = run_tool("forward", forward_args(f, "--mode eval"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto out = read_all_tensors(f.output);
  ASSERT_EQ(out.size(), 1u);
  double scale = 0;
  double diff = max_logit_diff(out["logits"], ref["eval"]["logits"], scale);
  EXPECT_LE(diff, 1e-4 * scale);
  EXPECT_EQ(out["logits"].dtype(), DType::Float32);

  write_safetensors(f.input, {{"x", golden_input({4, 3, 64, 64}, DType::Float32)}, {"y", golden_labels(4)}});
  for (const char* dtype : {"float32", "float64"}) {
    SCOPED_TRACE(dtype);
    const double tighten = std::string(dtype) == "float64" ? 1e-4 : 1.0;
    r = run_tool("forward", forward_args(f, std::string("--mode train --dtype ") + dtype));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    out = read_all_tensors(f.output);
    const auto& tr = ref["train"];
    diff = max_logit_diff(out["logits"], tr["logits"], scale);
    EXPECT_LE(diff, 1e-3 * tighten * scale);
    EXPECT_EQ(out["logits"].dtype(), dtype_from_name(dtype));
    ASSERT_EQ(out["loss"].dim(), 0) << "the mean loss is a scalar";
    EXPECT_NEAR(out["loss"].item(), tr["loss"].get<double>(), 1e-3 * tighten * tr["loss"].get<double>());
    ASSERT_EQ(out["per_sample_loss"].shape(), (Shape{4}));
    // Every parameter's gradient and every buffer, by timm's names.
    size_t grads = 0, buffers = 0;
    for (auto& [name, p] : net->named_parameters()) {
      ASSERT_TRUE(out.count("grad." + name)) << name;
      const Tensor& gr = out["grad." + name];
      EXPECT_EQ(gr.shape(), p.shape()) << name;
      double l2 = 0;
      for (double v : gr.to(DType::Float64).to_vector<double>()) l2 += v * v;
      const double g_ref = tr["grads"][name]["l2"].get<double>();
      EXPECT_NEAR(std::sqrt(l2), g_ref, tighten * (1e-2 * g_ref + 1e-3)) << name;
      ++grads;
    }
    for (auto& [name, b] : net->named_buffers()) {
      ASSERT_TRUE(out.count(name)) << name;
      if (name.ends_with("num_batches_tracked")) {
        EXPECT_EQ(out[name].to_vector<int64_t>(), std::vector<int64_t>{1}) << name;
      } else {
        double s = 0;
        for (double v : out[name].to(DType::Float64).to_vector<double>()) s += v;
        const double r_sum = tr["running_after"][name]["sum"].get<double>();
        EXPECT_NEAR(s, r_sum, tighten * (1e-4 * std::abs(r_sum) + 1e-6 * static_cast<double>(b.numel()))) << name;
      }
      ++buffers;
    }
    EXPECT_EQ(out.size(), 3 + grads + buffers) << "logits, per_sample_loss, loss, grads and buffers only";
  }
}

TEST(ForwardTool, BadInputGetsAClearMessageAndExitCode2) {
  ForwardFiles f;
  write_golden_weights(f.weights);
  write_safetensors(f.input, {{"x", golden_input({2, 3, 32, 32}, DType::Float32)}});
  struct Case {
    std::string args, expect;
  };
  const std::string missing = (f.dir / "missing.safetensors").string();
  std::vector<Case> cases = {
      {forward_args(f, "--mode train"), "train mode needs labels 'y'"},
      {forward_args(f, "--mode fit"), "--mode"},
      {forward_args(f, "--dtype float16"), "--dtype"},
      {forward_args(f, "--device tpu"), "--device"},
      {forward_args(f, "--classes 100"), "--weights: " + f.weights + ": 'classifier.weight' has shape [10, 1024]"},
      {std::string("--net resnet18 --weights '") + f.weights + "' --input '" + f.input + "' --output '" + f.output +
           "'",
       "missing: conv1.weight"},
      {std::string("--net resnet34 --weights '") + f.weights + "' --input '" + f.input + "' --output '" + f.output +
           "'",
       "--net: unknown net 'resnet34'"},
      {std::string("--net ") + kForwardNet + " --weights '" + missing + "' --input '" + f.input + "' --output '" + f.output +
           "'",
       "--weights: cannot open safetensors file '" + missing + "'"},
      {std::string("--net ") + kForwardNet + " --weights '" + f.weights + "' --input '" + f.weights + "' --output '" +
           f.output + "'",
       "no tensor named 'x'"},
      {std::string("--net ") + kForwardNet + " --weights '" + f.weights + "' --input '" + f.input + "'",
       "--output is required"},
  };
  if (!cuda_available()) cases.push_back({forward_args(f, "--device cuda"), "no CUDA device is available"});
  for (auto& c : cases) {
    auto r = run_tool("forward", c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << "expected \"" << c.expect << "\" in:\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(f.output)) << "nothing is written on error";

  // Labels must be in range and shaped like the batch.
  write_safetensors(f.input, {{"x", golden_input({2, 3, 32, 32}, DType::Float32)},
                              {"y", Tensor::from_vector<int64_t>({1, 10}, {2})}});
  auto r = run_tool("forward", forward_args(f, "--mode train"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("label 10 is outside [0, 10)"), std::string::npos) << r.output;
  write_safetensors(f.input, {{"x", golden_input({2, 3, 32, 32}, DType::Float32)},
                              {"y", Tensor::from_vector<int64_t>({1, 2, 3}, {3})}});
  r = run_tool("forward", forward_args(f, "--mode train"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("y must be [2]"), std::string::npos) << r.output;
  write_safetensors(f.input, {{"x", golden_input({2, 1, 32, 32}, DType::Float32)}});
  r = run_tool("forward", forward_args(f, ""));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("x must be [N, 3, H, W], got [2, 1, 32, 32]"), std::string::npos) << r.output;
}
