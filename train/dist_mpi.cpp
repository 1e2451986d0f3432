// The MPI communicator (CPU tensors) over the MPI plugin (see dist.h).
#include <cstdio>

#include "train/dist.h"
#include "train/dist_plugins.h"

namespace dybat {

namespace {

bool g_mpi_started = false;

// Throws with the MPI error's text unless rc is 0.
void check_mpi(int rc, const char* op) {
  if (rc == 0) return;
  char text[256];
  mpi_plugin().error_text(rc, text, sizeof text);
  DYBAT_FAIL("MPI ", op, " failed: ", text, " (error ", rc, ")");
}

void check_cpu(const Tensor& t, const char* op) {
  DYBAT_CHECK(t.defined() && t.device().is_cpu() && t.is_contiguous(), op,
              ": the MPI communicator takes contiguous CPU tensors, got ", t.defined() ? t.str() : "undefined");
}

class MpiPending : public PendingReduce {
 public:
  explicit MpiPending(int request) : request_(request) {}
  bool test() override {
    if (done_) return true;
    int done = 0;
    check_mpi(mpi_plugin().test(request_, &done), "MPI_Test");
    done_ = done != 0;
    return done_;
  }
  void wait() override {
    if (!done_) check_mpi(mpi_plugin().wait(request_), "MPI_Wait");
    done_ = true;
  }
  ~MpiPending() override {
    if (!done_) mpi_plugin().wait(request_);  // a request must complete before its buffer goes
  }

 private:
  int request_;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(int comm, int rank, int size, int local_rank)
      : comm_(comm), rank_(rank), size_(size), local_rank_(local_rank) {}
  int size() const override { return size_; }
  int rank() const override { return rank_; }
  int local_rank() const override { return local_rank_; }
  Device device() const override { return Device::cpu(); }

  void all_reduce_sum(const Tensor& t) const override {
    check_cpu(t, "all_reduce_sum");
    check_mpi(mpi_plugin().all_reduce_sum(comm_, t.data_ptr(), t.numel(), plugin_dtype(t.dtype(), "all_reduce_sum")),
              "MPI_Allreduce");
  }
  void all_gather(const Tensor& t) const override {
    check_cpu(t, "all_gather");
    DYBAT_CHECK(t.dim() >= 1 && t.size(0) % size_ == 0, "all_gather: ", t.str(), " does not split into ", size_,
                " equal parts");
    check_mpi(mpi_plugin().all_gather(comm_, t.data_ptr(), t.numel() / size_, plugin_dtype(t.dtype(), "all_gather")),
              "MPI_Allgather");
  }
  void broadcast(const Tensor& t, int root) const override {
    check_cpu(t, "broadcast");
    check_mpi(mpi_plugin().broadcast(comm_, t.data_ptr(), static_cast<int64_t>(t.nbytes()), root), "MPI_Bcast");
  }
  void barrier() const override { check_mpi(mpi_plugin().barrier(comm_), "MPI_Barrier"); }
  std::unique_ptr<PendingReduce> start_all_reduce_sum(const Tensor& t) const override {
    check_cpu(t, "start_all_reduce_sum");
    int request = -1;
    check_mpi(mpi_plugin().start_all_reduce_sum(comm_, t.data_ptr(), t.numel(),
                                                plugin_dtype(t.dtype(), "start_all_reduce_sum"), &request),
              "MPI_Iallreduce");
    return std::make_unique<MpiPending>(request);
  }
  std::unique_ptr<Communicator> duplicate() const override {
    int c = -1;
    check_mpi(mpi_plugin().dup(comm_, &c), "MPI_Comm_dup");
    return std::make_unique<MpiCommunicator>(c, rank_, size_, local_rank_);
  }
  [[noreturn]] void abort(int code) const override {
    std::fflush(stdout);
    std::fflush(stderr);
    mpi_plugin().abort(code);
    std::_Exit(code);  // MPI_Abort does not return; if it did, leaving still ends the job
  }

 private:
  int comm_, rank_, size_, local_rank_;
};

}  // namespace

std::unique_ptr<Communicator> mpi_communicator() {
  const DybatMpiApi& api = mpi_plugin();
  DYBAT_CHECK(!g_mpi_started, "MPI is already started in this process");
  int rank = 0, size = 1, local = 0;
  check_mpi(api.init(&rank, &size, &local), "MPI_Init_thread");
  g_mpi_started = true;
  return std::make_unique<MpiCommunicator>(0, rank, size, local);
}

void finalize_mpi() {
  if (!g_mpi_started) return;
  g_mpi_started = false;
  mpi_plugin().finalize();
}

}  // namespace dybat
