// One batch through a net, with everything a comparison against PyTorch needs: the library side
// of tools/forward (kept here so tests can call it without a process).
//
// Eval mode (running statistics) gives `logits`. Train mode (batch statistics, running
// statistics updated as in training) gives `logits`, `per_sample_loss` [N], `loss` (the mean, a
// scalar), `grad.<name>` for every parameter (the gradient of the mean loss), and every BN buffer
// after the forward under its own state_dict name.
#pragma once

#include <string>

#include "core/safetensors.h"
#include "layers/module.h"

namespace dybat {

// Runs x (and, in train mode, int64 labels y) through `net` on the net's device and dtype.
// Results come back on the host.
NamedTensors forward_outputs(Module& net, const Tensor& x, const Tensor& y, bool train);

struct ForwardRequest {
  std::string net;
  int num_classes = 10;
  std::string weights, input, output;  // safetensors paths
  bool train = false;
  Device device = Device::cpu();
  DType dtype = DType::Float32;
};

// Builds the net, loads --weights, reads --input (x: N x 3 x H x W floating; y: N integer
// labels, train mode only), runs forward_outputs and writes --output. Errors name the flag and
// the file at fault.
void run_forward(const ForwardRequest& r);

}  // namespace dybat
