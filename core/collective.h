// The one cross-process operation a layer may need in a data-parallel run: an in-place sum of a
// tensor over every process of the run. Layers see only this interface (synchronised BatchNorm
// sums its per-channel statistics through it); the implementations (MPI, NCCL, one process) live
// in train/dist.h, which installs them, so nothing below train/ depends on how processes talk.
//
// Contract: every process calls all_reduce_sum with a tensor of the same shape and dtype, in the
// same order as every other process (a collective). On return (CPU) or once the queued device
// work has run (CUDA: the work is queued on the device's stream, no host synchronisation, so it
// can be captured in a CUDA graph), t holds the elementwise sum over the processes, the same on
// every process.
#pragma once

#include "core/tensor.h"

namespace dybat {

class Collective {
 public:
  virtual ~Collective() = default;
  // Processes taking part (1: the sum is t itself).
  virtual int size() const = 0;
  // t = sum over processes of t, in place; t contiguous, float32, float64 or int64.
  virtual void all_reduce_sum(const Tensor& t) const = 0;
};

}  // namespace dybat
