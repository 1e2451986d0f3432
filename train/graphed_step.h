// How a loop runs the device work of its steps: plainly, plainly under the capture audit, or
// captured once into a CUDA graph and replayed (the mechanism is core/cuda_graph.h).
//
// GraphedStep is the policy every loop uses. Graph mode (CUDA): the first call runs the step
// eagerly (lazy state appears: gradient buffers, cuDNN plans, the SGD table), the second eagerly in
// the graph's pool (its warm-up, filling the pool), the third captures it and replays it, every
// later call replays it. The step function must then be capture-safe (core/capture.h): it may only
// queue device work, and everything it reads from the host (pointers, sizes, scalars) must be the
// same on every call; what changes per step must live in device memory (the step counter, the
// batch id, the learning rate). Host bookkeeping belongs outside the function. Audit mode runs
// every call eagerly, the ones after the warm-up inside a CaptureScope: on the CPU this proves a
// warm step reads nothing on the host and allocates nothing new. Eager mode just calls the step.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/cuda_graph.h"
#include "core/device.h"
#include "core/tensor.h"

namespace dybat {

class GraphedStep {
 public:
  enum class Mode { Eager, Audit, Graph };
  // Graph mode needs a CUDA device; the caller picks Eager (or Audit) elsewhere.
  GraphedStep(Device device, Mode mode, std::string name);
  ~GraphedStep();
  void run(const std::function<void()>& step);
  // A step with a device-side loop: before(); while (flag[0] != 0) body(); after(), where `flag`
  // is an int32 [1] tensor on the device that before() and body() keep current (1: loop again).
  // Graph mode captures it once as a graph with a conditional WHILE node (CudaGraph::capture_while)
  // and replays it: the device runs the loop, the host reads nothing. Eager and Audit modes run
  // the loop on the host: on the CPU the flag is read where it lies (the CPU backend's device
  // memory is host memory, so this is the twin of the device-side condition, not a transfer); a
  // CUDA device without graphs reads the flag back once per iteration (a 4-byte copy and a sync).
  // The warm-up calls run the loop eagerly the same way.
  void run_while(const Tensor& flag, const std::function<void()>& before, const std::function<void()>& body,
                 const std::function<void()>& after);
  Mode mode() const { return mode_; }
  int64_t calls() const { return calls_; }
  // True once the step has been captured (Graph mode) or audited (Audit mode).
  bool past_warm_up() const { return calls_ > 2; }

 private:
  Device device_;
  Mode mode_;
  std::string name_;
  int64_t calls_ = 0;
  std::unique_ptr<CudaGraph> graph_;
};

}  // namespace dybat
