// CUDA graph capture and replay (see cuda_graph.h).
#include "core/cuda_graph.h"

#include "core/allocator.h"
#include "core/capture.h"
#include "core/error.h"

#if defined(DYBAT_CUDA)
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/cuda_context.h"
#endif

namespace dybat {

#if defined(DYBAT_CUDA)

namespace {

// Ends the pool routing however the scope is left.
struct PoolScope {
  Allocator& a;
  PoolScope(Allocator& alloc, uint64_t pool, bool capturing) : a(alloc) { a.begin_pool(pool, capturing); }
  ~PoolScope() { a.end_pool(); }
};

}  // namespace

CudaGraph::CudaGraph(Device device, std::string name) : device_(device), name_(std::move(name)) {
  DYBAT_CHECK(device.is_cuda(), "a CUDA graph needs a CUDA device, got ", device.str());
  pool_ = cuda_allocator(device.index).create_pool();
}

CudaGraph::~CudaGraph() {
  // Destruction must not throw; errors here can only mean the context is already gone.
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  // Later work on the same stream is ordered after the last replay, so the pool's blocks may go
  // back to everyone at once.
  try {
    cuda_allocator(device_.index).release_pool(pool_);
  } catch (...) {
  }
}

void CudaGraph::warm_up(const std::function<void()>& fn) {
  PoolScope pool(cuda_allocator(device_.index), pool_, /*capturing=*/false);
  fn();
}

void CudaGraph::capture(const std::function<void()>& fn) {
  DYBAT_CHECK(!exec_, "CUDA graph of ", name_, ": already captured");
  cudaStream_t s = cuda::stream(device_.index);
  cudaGraph_t graph = nullptr;
  {
    PoolScope pool(cuda_allocator(device_.index), pool_, /*capturing=*/true);
    CaptureScope scope(name_);
    DYBAT_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    try {
      fn();
    } catch (...) {
      // Abandon the capture (its partial graph is discarded) and leave the stream usable.
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(s, &partial);
      if (partial) cudaGraphDestroy(partial);
      (void)cudaGetLastError();
      throw;
    }
    cudaError_t e = cudaStreamEndCapture(s, &graph);
    if (e != cudaSuccess) {
      if (graph) cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      DYBAT_FAIL("capturing ", name_, " into a CUDA graph failed: ", cudaGetErrorName(e), " (",
                 cudaGetErrorString(e), "); an operation in it cannot be captured (a synchronisation, a copy from "
                 "pageable host memory, or work on another stream)");
    }
  }
  cudaGraphExec_t exec = nullptr;
  cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  if (e != cudaSuccess) {
    cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    DYBAT_FAIL("instantiating the CUDA graph of ", name_, " failed: ", cudaGetErrorName(e), " (",
               cudaGetErrorString(e), ")");
  }
  graph_ = graph;
  exec_ = exec;
}

void CudaGraph::replay() {
  DYBAT_CHECK(exec_, "CUDA graph of ", name_, ": replay before capture");
  DYBAT_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), cuda::stream(device_.index)));
  ++replays_;
}

#else  // no CUDA backend

CudaGraph::CudaGraph(Device device, std::string name) : device_(device), name_(std::move(name)) {
  DYBAT_FAIL("CUDA graphs need the CUDA backend; this build has none (", name_, " on ", device.str(), ")");
}
CudaGraph::~CudaGraph() = default;
void CudaGraph::warm_up(const std::function<void()>& fn) { fn(); }
void CudaGraph::capture(const std::function<void()>&) { DYBAT_FAIL("CUDA graphs need the CUDA backend"); }
void CudaGraph::replay() { DYBAT_FAIL("CUDA graphs need the CUDA backend"); }

#endif

}  // namespace dybat
