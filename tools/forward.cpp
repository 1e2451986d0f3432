// forward: runs one batch through a net and writes everything a comparison with PyTorch needs.
//   ./tools/forward --net NAME [--classes 10] --weights W.safetensors --input IN.safetensors
//                   --output OUT.safetensors [--mode eval|train] [--device cpu|cuda] [--dtype float32|float64]
// IN holds x (float32, N x 3 x H x W) and, for train mode, y (int64, N). Eval mode writes
// `logits`; train mode (batch statistics) writes logits, per_sample_loss, loss, grad.<name> for
// every parameter and every BN buffer after the forward. TF32 is off: float32 means float32.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/error.h"
#include "core/settings.h"
#include "tools/lib/forward_run.h"
#include "tools/tool_common.h"

static int run(int argc, char** argv) {
  CLI::App app{"Run one batch through a net; write logits (eval) or logits, losses, gradients and BN buffers (train)"};
  dybat::ForwardRequest r;
  std::string mode = "eval", device = "cpu", dtype = "float32";
  app.add_option("--net", r.net, "resnet18, resnet50, efficientnet_b4, efficientnetv2_s, mobilenetv3_small_100")
      ->required();
  app.add_option("--classes", r.num_classes, "number of classes")->capture_default_str();
  app.add_option("--weights", r.weights, "safetensors file with the net's state_dict (timm names)")->required();
  app.add_option("--input", r.input, "safetensors file with x [N,3,H,W] (and y [N] for train)")->required();
  app.add_option("--output", r.output, "safetensors file to write")->required();
  app.add_option("--mode", mode, "eval (running statistics) or train (batch statistics, backward)")
      ->check(CLI::IsMember({"eval", "train"}))
      ->capture_default_str();
  app.add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--dtype", dtype, "float32 or float64")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  dybat::tools::parse_command_line(app, argc, argv);
  // A comparison tool wants full float32 arithmetic: no TF32 in cuDNN convolutions or cuBLAS.
  dybat::backend_settings().tf32_conv = false;
  dybat::backend_settings().tf32_matmul = false;
  r.train = mode == "train";
  r.dtype = dybat::dtype_from_name(dtype);
  try {
    r.device = dybat::Device::parse(device);
  } catch (const dybat::Error& e) {
    DYBAT_FAIL("--device: ", e.message());
  }
  dybat::run_forward(r);
  return 0;
}

int main(int argc, char** argv) {
  return dybat::tools::main_guard("forward", [&] { return run(argc, argv); });
}
