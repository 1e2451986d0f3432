// Data-parallel communication: how this process was launched, and the communicator the training
// loop, synchronised BatchNorm and the metrics use to combine the work of every process.
//
// A run is N processes ("ranks"), one device each, started by `mpirun -np N` (Open MPI). Rank r
// of N trains on its contiguous slice of every batch (train/dist_launch.h); the processes meet
// only in the collectives of a Communicator:
//   - all_reduce_sum   (Collective): gradients (train/grad_sync.h), DyBAT's batch loss
//                      (train/global_loss.h), BatchNorm sums with --sync-bn;
//   - all_gather       an evaluation batch's logits, labels and losses, so the metrics of a
//                      batch are those of the whole batch (AUROC is not a sum of parts);
//   - broadcast        rank 0's weights and BatchNorm buffers;
//   - start_all_reduce_sum  a non-blocking all-reduce (gradient buckets during the backward).
// Every rank issues the same collectives in the same order; each call names what it needs.
//
// Implementations: the single process (rank 0 of 1: every collective leaves the tensor as it is;
// a plain run, never touches MPI), MPI (CPU tensors; train/dist_mpi.cpp) and NCCL (CUDA tensors,
// queued on the device's stream without host synchronisation, so they can be captured in a CUDA
// graph when every rank captures the same ones; train/dist_nccl.cpp). MPI and NCCL live in
// plugins loaded only when the launch needs them (train/plugins/dist_plugin.h).
//
// Failures: a communication error throws dybat::Error; the programs then abort the whole job
// (abort(): MPI_Abort), so no rank waits forever for one that stopped (tools/lib/dist_run.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/collective.h"
#include "core/tensor.h"

namespace dybat {

// How this process was started: by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE, _RANK and
// _LOCAL_RANK in every process it starts), or plainly (rank 0 of 1).
struct Launch {
  bool under_mpirun = false;
  int rank = 0, size = 1, local_rank = 0;
};
// Reads the environment; throws when the variables are present but malformed.
Launch launch_from_env();

// A non-blocking reduction in flight.
class PendingReduce {
 public:
  virtual ~PendingReduce() = default;
  // Lets the library progress the operation; true once it has completed (CPU). On CUDA the
  // completion is ordered on the device, so test() reports false until wait().
  virtual bool test() = 0;
  // CPU: returns once the result is in the tensor. CUDA: orders the device's stream after the
  // operation (later work sees the result); the host does not wait.
  virtual void wait() = 0;
};

class Communicator : public Collective {
 public:
  virtual int rank() const = 0;
  virtual int local_rank() const = 0;
  // Where the tensors of the collectives live: the CPU (single process, MPI) or a CUDA device.
  virtual Device device() const = 0;
  // t [size() * n, ...] contiguous: rows [r n, (r + 1) n) come from rank r; this rank's part is
  // in place when called, the others arrive. float32, float64, int64.
  virtual void all_gather(const Tensor& t) const = 0;
  // t (contiguous, any dtype) = root's t on every rank.
  virtual void broadcast(const Tensor& t, int root) const = 0;
  // Returns once every rank has called it (CUDA: after this rank's queued work has finished).
  virtual void barrier() const = 0;
  virtual std::unique_ptr<PendingReduce> start_all_reduce_sum(const Tensor& t) const = 0;
  // A communicator over the same ranks whose operations are ordered independently of this one's
  // (the gradient buckets use their own, so they never interleave with the BatchNorm sums).
  virtual std::unique_ptr<Communicator> duplicate() const = 0;
  // Ends every rank of the job with `code` (the single process: this process).
  [[noreturn]] virtual void abort(int code) const = 0;
};

// Rank 0 of 1 on `device`.
std::unique_ptr<Communicator> single_process_communicator(Device device);

// MPI over every process of the mpirun job (CPU tensors). Loads libdybat_mpi.so and calls
// MPI_Init; throws naming what is missing when the build or the machine has no MPI.
std::unique_ptr<Communicator> mpi_communicator();
// Ends MPI in this process (after the last collective; nothing when MPI was never started).
void finalize_mpi();

// NCCL over the ranks of `host` (an MPI communicator, which carries NCCL's unique id from rank 0),
// on CUDA `device` (made current). Loads libdybat_nccl.so. A background thread checks the
// communicator for asynchronous NCCL errors; on one it aborts the communicator and ends this
// process, which makes mpirun end the job.
std::unique_ptr<Communicator> nccl_communicator(const Communicator& host, Device device);

// ---- host values over a CPU communicator ----------------------------------------------------

// root's text on every rank.
std::string broadcast_text(const Communicator& comm, const std::string& text, int root = 0);
// True on every rank when `flag` is true on any rank.
bool any_rank(const Communicator& comm, bool flag);
// Every rank's value, by rank.
std::vector<int64_t> gather_values(const Communicator& comm, int64_t value);

}  // namespace dybat
