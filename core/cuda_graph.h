// CUDA graphs: the work a step queues on a device's stream, captured once and replayed, so a
// training step costs one launch instead of hundreds (and no host work per kernel).
//
// CudaGraph is the mechanism (the policy that decides when to warm up, capture and replay lives
// with the training loop, in train/graphed_step.h): capture with cudaStreamBeginCapture in relaxed mode (other threads
// may keep using CUDA), instantiate, replay with cudaGraphLaunch. Each graph owns a private pool of
// the caching allocator (core/block_cache.h): its warm-up run and its capture allocate from it, and
// the blocks the replays write stay out of everyone else's reach until the graph is destroyed.

#pragma once

#include <cstdint>
#include <functional>
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
  // Records a step with a device-side loop: before(); while (*flag != 0) body(); after(). Each
  // part is captured on its own and the three are joined in one graph around a conditional WHILE
  // node (CUDA 12.4+), whose condition a one-thread kernel sets from `flag` (an int32 in device
  // memory that before() and body() keep current) after before() and after each body(). Nothing
  // runs; replay() runs the loop on the device without the host. Throws as capture() does.
  void capture_while(const std::function<void()>& before, const int32_t* flag, const std::function<void()>& body,
                     const std::function<void()>& after);
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

}  // namespace dybat
