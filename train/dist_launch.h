// Setting up a data-parallel run in the programs (tools/train, tools/eval): the launch checks,
// which device a rank uses, and which samples it keeps.
//
// Slicing: --batch-size B stays the global batch; rank r of N takes the contiguous slice
// [r B/N, (r + 1) B/N) of every batch, so batch id j means the same B samples on every rank and
// in a one-process run. A rank keeps only its slices on its device: rows j B + r B/N ... of
// every full batch j, b B/N rows in all (1/N of the split; the last partial batch is dropped, as
// drop_last does). B must be a multiple of N (and so at least N).
//
// Launch checks, made before any data is loaded, each raised on every rank at once (AgreedError,
// exit 2, one message from rank 0): ranks started with different arguments; ranks whose settings
// differ after parsing (a resumed run reads config.json on every rank: a different copy on
// another node shows up here); a batch N ranks cannot share; resuming with another N.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "train/config.h"
#include "train/dist.h"

namespace dybat {

struct RankSlice {
  int64_t begin = 0, count = 0;
};
// Rank `rank`'s part of a batch of `batch` samples shared by `size` ranks (throws unless `size`
// divides `batch`).
RankSlice rank_slice(int64_t batch, int rank, int size);
// "" when `size` ranks can share batches of `batch`; else the reason, naming `flag`.
std::string batch_split_problem(int64_t batch, int size, const std::string& flag);
// The rows of a split of `num_samples` that rank `rank` keeps, in order (see above).
std::vector<int64_t> rank_rows(int64_t num_samples, int64_t batch, int rank, int size);
// Those rows of `split` (on the CPU), on `device`.
Split rank_split(const Split& split, int64_t batch, int rank, int size, Device device);

// "" when the settings agree; else the first that differs as "--name mine (rank 0: theirs)".
std::string settings_difference(const nlohmann::json& mine, const nlohmann::json& root);

// An error every rank raises at the same point with the same message: the programs print it
// once (rank 0) and every rank exits 2 without aborting the job.
class AgreedError : public Error {
 public:
  using Error::Error;
};
[[noreturn]] void fail_on_every_rank(const std::string& message);

class DistRun {
 public:
  // From the environment: MPI is started under mpirun, nothing otherwise.
  DistRun();
  ~DistRun();
  DistRun(const DistRun&) = delete;
  DistRun& operator=(const DistRun&) = delete;

  int rank() const { return host_->rank(); }
  int size() const { return host_->size(); }
  bool root() const { return rank() == 0; }
  bool under_mpirun() const { return launch_.under_mpirun; }
  // "rank 1 of 2" under mpirun, "" otherwise.
  std::string who() const;
  // The communicator for host (CPU) values: MPI under mpirun, else the single process.
  const Communicator& host() const { return *host_; }
  // The communicator for tensors on `device` (made on the first call: NCCL for a GPU, the host
  // communicator for the CPU).
  const Communicator& communicator(Device device);

  // This rank's device for --device `requested`: as resolve_device (train/setup.h), except that
  // under mpirun a GPU request (or none, on a GPU machine) means cuda:<local rank>.
  Device device(const std::string& requested) const;

  // The collective checks above; each throws AgreedError on every rank.
  void check_same_arguments(const std::vector<std::string>& args) const;
  void check_same_settings(const nlohmann::json& config) const;
  void check_batch(int64_t batch, const std::string& flag) const;
  // A run folder's config.json records the ranks it was trained with ("ranks"; absent: 1).
  void check_resume_ranks(const nlohmann::json& saved_config, const std::string& dir) const;
  // Runs `check` on rank 0 only (a check of what only rank 0 writes); its error becomes every
  // rank's AgreedError.
  void on_root(const std::function<void()>& check) const;
  // Runs `fn` on rank 0, then on the first rank of every other node, then on the others, each
  // group after the one before has finished: a dataset's decoded cache is then written by one
  // process per node and read by the rest, never written by two at once.
  void in_turn(const std::function<void()>& fn) const;
  // load_run_dataset (train/setup.h) (in turn when it may write an image-folder cache), then each split cut to this
  // rank's slices of its batches of `batch` on `device`; with one process exactly load_run_dataset. Notices are printed
  // by rank 0 only.
  Dataset load_dataset(const TrainConfig& c, Device device, int64_t batch) const;

  // Ends MPI (after the last collective); the destructor does it too.
  void finish();
  // Ends every rank of the job with `code` (MPI_Abort), or this process when there is no job.
  [[noreturn]] void abort(int code) const;

 private:
  Launch launch_;
  std::unique_ptr<Communicator> host_;
  std::unique_ptr<Communicator> device_comm_;
};

}  // namespace dybat
