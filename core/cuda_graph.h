// CUDA graphs: the work a step queues on a device's stream, captured once and replayed, so a
// training step costs one launch instead of hundreds (and no host work per kernel).
//
// CudaGraph is the mechanism: capture with cudaStreamBeginCapture in relaxed mode (other threads
// may keep using CUDA), instantiate, replay with cudaGraphLaunch. Each graph owns a private pool of
// the caching allocator (core/block_cache.h): its warm-up run and its capture allocate from it, and
// the blocks the replays write stay out of everyone else's reach until the graph is destroyed.
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

#include "core/device.h"

namespace dybat {

class CudaGraph {
 public:
  // `name` describes the captured work in messages. Throws unless `device` is a CUDA device of a
  // CUDA build.
  CudaGraph(Device device, std::string name);
  ~CudaGraph();  // destroys the graph and releases its pool
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs fn eagerly with the device's allocations served from (and returned to) the graph's pool.
  void warm_up(const std::function<void()>& fn);
  // Records fn's work into the graph (nothing runs). Throws, leaving no graph, when fn does
  // something a graph cannot hold or allocates beyond what its warm-up left in the pool.
  void capture(const std::function<void()>& fn);
  bool captured() const { return exec_ != nullptr; }
  // Queues the captured work on the device's stream (no host synchronisation).
  void replay();
  int64_t replays() const { return replays_; }

 private:
  Device device_;
  std::string name_;
  uint64_t pool_ = 0;
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  int64_t replays_ = 0;
};

class GraphedStep {
 public:
  enum class Mode { Eager, Audit, Graph };
  // Graph mode needs a CUDA device; the caller picks Eager (or Audit) elsewhere.
  GraphedStep(Device device, Mode mode, std::string name);
  ~GraphedStep();
  void run(const std::function<void()>& step);
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
