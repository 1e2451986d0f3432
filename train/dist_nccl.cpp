// The NCCL communicator (CUDA tensors) over the NCCL plugin (see dist.h). Collectives are queued
// on the device's stream (core/cuda_context.h), so they order with the kernels around them and
// can be captured in a CUDA graph. Non-blocking all-reduces (the gradient buckets) run on a side
// stream: an event forks it from the main stream, another joins it back at wait(), which a graph
// capture records as a fork and a join. A duplicate has its own NCCL communicator and side stream,
// so its operations never interleave with this one's in NCCL's per-communicator order.
#include "train/dist.h"

#if defined(DYBAT_CUDA)
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/cuda_check.h"
#include "core/cuda_context.h"
#include "train/dist_plugins.h"

namespace dybat {

namespace {

void check_nccl(int rc, const char* op) {
  if (rc == 0) return;
  DYBAT_FAIL("NCCL ", op, " failed: ", nccl_plugin().error_text(rc), " (error ", rc, ")");
}

// One NCCL communicator with its side stream, its event pairs and its watchdog.
struct NcclState {
  const DybatNcclApi& api = nccl_plugin();
  void* comm = nullptr;
  int device = 0, rank = 0, size = 1;
  cudaStream_t side = nullptr;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> free_events;  // (fork, join), reused
  std::atomic<bool> stop{false};
  std::thread watchdog;

  ~NcclState() {
    stop = true;
    if (watchdog.joinable()) watchdog.join();
    for (auto& [a, b] : free_events) {
      cudaEventDestroy(a);
      cudaEventDestroy(b);
    }
    if (side) cudaStreamDestroy(side);
    if (comm) api.destroy(comm);
  }

  // Polls for an asynchronous NCCL error every 100 ms. On one: abort the communicator (freeing any
  // rank blocked in it) and end this process, which makes mpirun end the whole job.
  void start_watchdog() {
    watchdog = std::thread([this] {
      while (!stop) {
        int err = 0;
        if (api.async_error(comm, &err) == 0 && err != 0) {
          std::fprintf(stderr, "dybat: rank %d: NCCL reported an asynchronous error: %s; ending the job\n", rank,
                       api.error_text(err));
          std::fflush(stderr);
          api.abort(comm);
          std::_Exit(3);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
};

class NcclPending : public PendingReduce {
 public:
  NcclPending(NcclState& s, std::pair<cudaEvent_t, cudaEvent_t> ev) : s_(s), ev_(ev) {}
  bool test() override { return false; }
  void wait() override {
    if (waited_) return;
    DYBAT_CUDA_CHECK(cudaStreamWaitEvent(cuda::stream(s_.device), ev_.second, 0));
    waited_ = true;
  }
  ~NcclPending() override {
    if (!waited_) cudaStreamWaitEvent(cuda::stream(s_.device), ev_.second, 0);
    s_.free_events.push_back(ev_);
  }

 private:
  NcclState& s_;
  std::pair<cudaEvent_t, cudaEvent_t> ev_;
  bool waited_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const Communicator& host, Device device) : host_(host), state_(std::make_unique<NcclState>()) {
    DYBAT_CHECK(device.is_cuda(), "NCCL communicates between GPUs; got ", device.str());
    NcclState& s = *state_;
    s.device = device.index;
    s.rank = host.rank();
    s.size = host.size();
    (void)cuda::stream(s.device);  // makes the device current
    // Rank 0 makes the unique id; MPI carries it to every rank.
    Tensor id = Tensor::zeros({s.api.id_bytes}, DType::UInt8);
    if (s.rank == 0) check_nccl(s.api.unique_id(id.data_ptr()), "ncclGetUniqueId");
    host.broadcast(id, 0);
    check_nccl(s.api.init(&s.comm, s.size, id.data_ptr(), s.rank), "ncclCommInitRank");
    DYBAT_CUDA_CHECK(cudaStreamCreateWithFlags(&s.side, cudaStreamNonBlocking));
    s.start_watchdog();
  }

  int size() const override { return state_->size; }
  int rank() const override { return state_->rank; }
  int local_rank() const override { return host_.local_rank(); }
  Device device() const override { return Device::cuda(state_->device); }

  void all_reduce_sum(const Tensor& t) const override {
    check(t, "all_reduce_sum");
    check_nccl(state_->api.all_reduce_sum(state_->comm, t.data_ptr(), t.numel(), plugin_dtype(t.dtype(), "all_reduce"),
                                          main_stream()),
               "ncclAllReduce");
  }
  void all_gather(const Tensor& t) const override {
    check(t, "all_gather");
    DYBAT_CHECK(t.dim() >= 1 && t.size(0) % size() == 0, "all_gather: ", t.str(), " does not split into ", size(),
                " equal parts");
    check_nccl(state_->api.all_gather(state_->comm, t.data_ptr(), t.numel() / size(),
                                      plugin_dtype(t.dtype(), "all_gather"), rank(), main_stream()),
               "ncclAllGather");
  }
  void broadcast(const Tensor& t, int root) const override {
    check(t, "broadcast");
    check_nccl(state_->api.broadcast(state_->comm, t.data_ptr(), static_cast<int64_t>(t.nbytes()), root, main_stream()),
               "ncclBroadcast");
  }
  void barrier() const override {
    DYBAT_CUDA_CHECK(cudaStreamSynchronize(cuda::stream(state_->device)));
    host_.barrier();
  }
  std::unique_ptr<PendingReduce> start_all_reduce_sum(const Tensor& t) const override {
    check(t, "start_all_reduce_sum");
    NcclState& s = *state_;
    std::pair<cudaEvent_t, cudaEvent_t> ev;
    if (s.free_events.empty()) {
      DYBAT_CUDA_CHECK(cudaEventCreateWithFlags(&ev.first, cudaEventDisableTiming));
      DYBAT_CUDA_CHECK(cudaEventCreateWithFlags(&ev.second, cudaEventDisableTiming));
    } else {
      ev = s.free_events.back();
      s.free_events.pop_back();
    }
    cudaStream_t main = cuda::stream(s.device);
    DYBAT_CUDA_CHECK(cudaEventRecord(ev.first, main));  // the gradients so far are on the main stream
    DYBAT_CUDA_CHECK(cudaStreamWaitEvent(s.side, ev.first, 0));
    check_nccl(s.api.all_reduce_sum(s.comm, t.data_ptr(), t.numel(), plugin_dtype(t.dtype(), "all_reduce"), s.side),
               "ncclAllReduce");
    DYBAT_CUDA_CHECK(cudaEventRecord(ev.second, s.side));
    return std::make_unique<NcclPending>(s, ev);
  }
  std::unique_ptr<Communicator> duplicate() const override {
    return std::make_unique<NcclCommunicator>(host_, device());
  }
  [[noreturn]] void abort(int code) const override {
    state_->api.abort(state_->comm);
    host_.abort(code);
    std::_Exit(code);  // not reached: the host communicator ends the job
  }

 private:
  void check(const Tensor& t, const char* op) const {
    DYBAT_CHECK(t.defined() && t.is_contiguous() && t.device() == device(), op,
                ": the NCCL communicator takes contiguous tensors on ", device().str(), ", got ",
                t.defined() ? t.str() : "undefined");
  }
  void* main_stream() const { return cuda::stream(state_->device); }

  const Communicator& host_;
  std::unique_ptr<NcclState> state_;
};

}  // namespace

std::unique_ptr<Communicator> nccl_communicator(const Communicator& host, Device device) {
  return std::make_unique<NcclCommunicator>(host, device);
}

}  // namespace dybat

#else  // no CUDA backend

namespace dybat {
std::unique_ptr<Communicator> nccl_communicator(const Communicator&, Device device) {
  DYBAT_FAIL("NCCL needs the CUDA backend; this build has none (", device.str(), ")");
}
}  // namespace dybat

#endif
