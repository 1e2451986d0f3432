// SGD with momentum over a module's parameters (PyTorch's semantics, kernels/sgd.h), and the
// learning-rate schedules: constant (the paper's), cosine and step.
#pragma once

#include <cstdint>
#include <string>

#include "core/safetensors.h"
#include "kernels/sgd.h"
#include "layers/module.h"

namespace dybat {

class Sgd {
 public:
  Sgd(const Module& model, const SgdOptions& options);
  // Sets every existing parameter gradient to zero (keeping the buffers).
  void zero_grad();
  // One update of every parameter that has a gradient, with learning rate `lr`.
  void step(double lr);
  // The same with the rate read from `lr` (one float64 element on the parameters' device), which
  // a captured CUDA graph reads afresh on every replay.
  void step(const Tensor& lr);
  // Momentum buffers by parameter name, for checkpoints.
  NamedTensors buffers() const;
  void load_buffers(const NamedTensors& saved);  // names and shapes must match

 private:
  SgdOptions opt_;
  NamedTensors params_;
  std::vector<Tensor> bufs_;
};

struct LrSchedule {
  std::string kind = "constant";  // constant, cosine, step
  double base = 0.005;
  int64_t total_steps = 1;
  int64_t steps_per_epoch = 1;
  double step_epochs = 30;  // step: decay every this many epochs
  double gamma = 0.1;
  // The rate for step `step` (from 0): cosine = base * (1 + cos(pi * step / total)) / 2,
  // step = base * gamma ^ floor(epoch / step_epochs) with epoch = step / steps_per_epoch.
  double at(int64_t step) const;
};

}  // namespace dybat
