// Capture safety: what a piece of work must not do to be captured once into a CUDA graph and
// replayed, checked on any device.
//
// A graph holds only work queued on the device's stream. While a CaptureScope is active on this
// thread, every operation that would not be recorded (or is illegal during a capture) throws
// dybat::Error naming it and the scope, instead of silently breaking the replays:
//   - reading tensor values on the host (Tensor::item, to_vector): a replay would not read again;
//   - synchronising with a device, and copies between host and device;
//   - taking new memory from the system (cudaMalloc is illegal in a capture; on the CPU this is
//     the proof that a warm step allocates nothing new).
// The CUDA graph runner opens a scope around each capture; on the CPU a scope around a warm step
// proves that the step does none of these things after its warm-up (Trainer's capture audit).
#pragma once

#include <string>

namespace dybat {

class CaptureScope {
 public:
  // `what` names the captured work in messages ("the training step").
  explicit CaptureScope(std::string what);
  ~CaptureScope();
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  std::string prev_;
  bool was_active_;
};

// True while a CaptureScope is active on this thread.
bool capture_active();
// Throws when a capture scope is active: `operation` cannot be part of a CUDA graph.
void capture_check(const char* operation);

}  // namespace dybat
