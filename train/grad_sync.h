// Gradient averaging for data-parallel training: a bucketed all-reduce launched while the
// backward pass still runs, as PyTorch's DistributedDataParallel does.
//
// Scaling: each rank backpropagates its slice's losses with weight 1 / B, B the global batch
// (TrainStep::set_gradient_sync), so its gradient is its share of the one-process gradient of the
// mean loss, and the plain sum over ranks is that gradient: no division afterwards, no mean of
// per-rank means (which would differ when slices differ in size).
//
// Buckets (plan_buckets): the parameters in reverse registration order (the backward reaches the
// last layers first), packed in order into buckets of at most `cap` bytes; a parameter larger
// than the cap is a bucket of its own, and a bucket holds one dtype. cap 0: one bucket of
// everything, reduced after the backward (no overlap; the comparison point).
//
// Launch (GradientSync::backward): core/autograd.h's gradient-ready hook reports each parameter
// whose gradient is final; a bucket starts its non-blocking all-reduce once all of its gradients
// are final and every earlier bucket has started, so every rank starts the buckets in the same
// order whatever order the gradients arrive in. A bucket of one parameter is reduced in the
// gradient's own memory; larger ones are packed into a flat buffer (made once) and unpacked after.
// Each report also lets MPI progress the reductions in flight (MPI moves data only inside its
// calls). After the backward the remaining buckets start, all are waited for, and the gradients
// hold the sums. On CUDA all of this is queued on the device (train/dist.h), so the step stays
// capturable in a CUDA graph. A parameter the backward never reaches keeps no gradient, on every
// rank alike, and is left out of its bucket's reduction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "layers/module.h"
#include "train/dist.h"

namespace dybat {

struct Bucket {
  std::vector<size_t> params;  // indices into the parameter list, in bucket order
  DType dtype = DType::Float32;
  int64_t numel = 0;  // elements of all its parameters
};

// Buckets for parameters of `numel` elements and `dtype` each (registration order), cap in bytes.
std::vector<Bucket> plan_buckets(const std::vector<int64_t>& numel, const std::vector<DType>& dtype, int64_t cap);

class GradientSync {
 public:
  // comm: the communicator the buckets use (its own; see Communicator::duplicate).
  GradientSync(const Module& net, const Communicator& comm, int64_t cap_bytes);
  ~GradientSync();
  // Runs `backward` (one backward pass over the net's parameters) with the buckets launched as
  // they fill, then completes them: on return every gradient is the sum over the ranks.
  void backward(const std::function<void()>& backward);

  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Of the last pass: buckets started while the backward ran (the rest started after it).
  int64_t started_during_backward() const { return started_during_; }
  // Seconds the host spent completing the reductions after the backward, summed over passes
  // (CPU: the communication the backward did not hide; CUDA: only the launches).
  double wait_seconds() const { return wait_s_; }
  int64_t passes() const { return passes_; }

 private:
  void on_ready(const TensorImpl& leaf);
  void start_ready_buckets(bool all);
  void start(size_t b);

  const Communicator& comm_;
  int64_t cap_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;                            // parameter -> bucket
  std::vector<int64_t> offset_;                              // parameter -> offset in its bucket's flat buffer
  std::vector<Tensor> flat_;                                 // per bucket (multi-parameter buckets), made on first use
  std::vector<int64_t> missing_;                             // per bucket: gradients not yet final in this pass
  std::vector<std::unique_ptr<PendingReduce>> pending_;      // per bucket, this pass
  std::vector<std::pair<const TensorImpl*, size_t>> index_;  // parameter impl -> index, sorted
  size_t next_ = 0;                                          // the next bucket to start
  bool in_backward_ = false;
  int64_t started_during_ = 0, passes_ = 0;
  double wait_s_ = 0;
};

}  // namespace dybat
