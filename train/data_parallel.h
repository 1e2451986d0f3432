// What the training loop does differently when it is one rank of a data-parallel run; the
// Trainer holds one (Trainer::set_data_parallel) and calls it at fixed points.
//
//   step        gradients summed over the ranks during the backward (train/grad_sync.h), each
//               rank's losses weighted by 1 / (global batch); DyBAT's batch score the mean loss
//               of the whole batch (SelectionState::set_collective), so every rank picks the same
//               batches; with sync_bn, BatchNorm statistics over the whole batch (forward and
//               backward, kernels/batchnorm_sync.h). All of it is queued on the device, so a CUDA
//               step is still one captured graph.
//   evaluation  each batch's logits, labels and losses gathered from every rank (GlobalBatch), so
//               the metrics are those of the whole batch on every rank; before it, rank 0's
//               BatchNorm running statistics go to every rank (as PyTorch DDP broadcasts buffers),
//               so the model evaluated and saved is one model.
//   files       rank 0 writes them; every rank reads a checkpoint on resume.
//   checks      at each evaluation the ranks compare the batch ids they trained on since the last
//               one; a difference stops every rank with the step and the ids (exit 2).
//
// Every call here that communicates is a collective: every rank makes it at the same point.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "layers/module.h"
#include "train/dist.h"
#include "train/grad_sync.h"
#include "train/selection.h"

namespace dybat {

struct DataParallelOptions {
  bool sync_bn = false;             // BatchNorm statistics over every rank (--sync-bn)
  int64_t bucket_bytes = 25 << 20;  // gradient bucket size (--bucket-mb; 0: one bucket, after backward)
};

class DataParallel {
 public:
  // net: on comm.device(). comm: the communicator of the device's tensors; host: the one for host
  // values (the same object on the CPU). Installs synchronised BatchNorm when asked.
  DataParallel(Module& net, const Communicator& comm, const Communicator& host, DataParallelOptions options);
  ~DataParallel();

  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }
  bool writes_files() const { return comm_.rank() == 0; }
  const Communicator& comm() const { return comm_; }
  const DataParallelOptions& options() const { return options_; }
  GradientSync& gradient_sync() { return *grads_; }

  // Rank 0's parameters and buffers on every rank (at the start of a run: the ranks then hold one
  // model whatever their initialisation did).
  void broadcast_state();
  // Before each evaluation: rank 0's buffers (BatchNorm running statistics) on every rank; with
  // sync_bn they agree already and nothing is sent.
  void before_evaluation();

  // The trace rows this rank recorded (every flush); check_trace (at each evaluation) compares the
  // batch ids noted since the last check across the ranks and fails on every rank when they differ.
  void note_trace(const std::vector<TraceRow>& rows);
  void check_trace(SelectionState& selection);

 private:
  Module& net_;
  const Communicator& comm_;
  const Communicator& host_;
  DataParallelOptions options_;
  std::unique_ptr<Communicator> grad_comm_;  // the buckets' own communicator
  std::unique_ptr<GradientSync> grads_;
  std::vector<TraceRow> unchecked_;
  int64_t checks_ = 0;
};

// One evaluation batch of every rank, gathered into the whole batch in rank order (rank r's rows
// at [r n, (r + 1) n)): the same on every rank. Buffers are made on the first call and kept, so
// the gather can be captured in a CUDA graph.
class GlobalBatch {
 public:
  explicit GlobalBatch(const Communicator& comm) : comm_(comm) {}
  struct Parts {
    Tensor logits, labels, losses;  // [N n, c], [N n], [N n]
  };
  Parts gather(const Tensor& logits, const Tensor& labels, const Tensor& losses);

 private:
  const Communicator& comm_;
  Parts full_;
};

// Every BatchNorm2d of `net` takes its batch statistics over the ranks of `sync` (null: its own
// batch again); DataParallel does this for --sync-bn, tools/eval for a run trained with it.
void use_sync_batch_norm(Module& net, const Collective* sync);

// Fault injection for the tests of the trace check: DYBAT_FAULT_DIVERGE_RANK=<r> makes rank r
// negate its scores after the first check, so its next selection differs from the others'.
int diverge_rank_from_env();

}  // namespace dybat
