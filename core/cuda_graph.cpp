// CUDA graph capture and replay, and graphs with a device-side loop (see cuda_graph.h).
#include "core/cuda_graph.h"

#include "core/allocator.h"
#include "core/capture.h"
#include "core/error.h"

#if defined(DYBAT_CUDA)
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/cuda_context.h"

namespace dybat::cuda {
// The one-thread kernel that sets a graph's conditional handle from an int32 flag in device
// memory (core/cuda_graph_kernels.cu), for the kernel nodes of capture_while.
void* set_condition_kernel();
}  // namespace dybat::cuda
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

namespace {

// Captures fn's work on stream s into a new graph, which the caller owns. On failure the partial
// capture is discarded, the stream left usable, and the error names the work.
cudaGraph_t capture_part(cudaStream_t s, const std::function<void()>& fn, const std::string& name) {
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
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(s, &graph);
  if (e != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    DYBAT_FAIL("capturing ", name, " into a CUDA graph failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
               "); an operation in it cannot be captured (a synchronisation, a copy from pageable host memory, or "
               "work on another stream)");
  }
  return graph;
}

// Instantiates `graph` (taking it over: destroyed on failure).
cudaGraphExec_t instantiate(cudaGraph_t graph, const std::string& name) {
  cudaGraphExec_t exec = nullptr;
  cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  if (e != cudaSuccess) {
    cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    DYBAT_FAIL("instantiating the CUDA graph of ", name, " failed: ", cudaGetErrorName(e), " (",
               cudaGetErrorString(e), ")");
  }
  return exec;
}

// A kernel node of one thread that sets conditional `handle` to (*flag != 0), after `dep`.
cudaGraphNode_t add_condition_node(cudaGraph_t graph, cudaGraphNode_t dep, cudaGraphConditionalHandle handle,
                                   const int32_t* flag) {
  void* args[] = {&handle, &flag};
  cudaKernelNodeParams k = {};
  k.func = cuda::set_condition_kernel();
  k.gridDim = dim3(1);
  k.blockDim = dim3(1);
  k.kernelParams = args;
  cudaGraphNode_t node = nullptr;
  DYBAT_CUDA_CHECK(cudaGraphAddKernelNode(&node, graph, &dep, 1, &k));
  return node;
}

}  // namespace

void CudaGraph::capture(const std::function<void()>& fn) {
  DYBAT_CHECK(!exec_, "CUDA graph of ", name_, ": already captured");
  cudaGraph_t graph = nullptr;
  {
    PoolScope pool(cuda_allocator(device_.index), pool_, /*capturing=*/true);
    CaptureScope scope(name_);
    graph = capture_part(cuda::stream(device_.index), fn, name_);
  }
  exec_ = instantiate(graph, name_);
  graph_ = graph;
}

void CudaGraph::capture_while(const std::function<void()>& before, const int32_t* flag,
                              const std::function<void()>& body, const std::function<void()>& after) {
  DYBAT_CHECK(!exec_, "CUDA graph of ", name_, ": already captured");
  cudaStream_t s = cuda::stream(device_.index);
  cudaGraph_t parts[3] = {nullptr, nullptr, nullptr};
  cudaGraph_t top = nullptr;
  auto destroy_parts = [&] {
    for (cudaGraph_t& g : parts)
      if (g) cudaGraphDestroy(g), g = nullptr;
  };
  try {
    {
      PoolScope pool(cuda_allocator(device_.index), pool_, /*capturing=*/true);
      CaptureScope scope(name_);
      parts[0] = capture_part(s, before, name_);
      parts[1] = capture_part(s, body, name_ + " (its loop body)");
      parts[2] = capture_part(s, after, name_);
    }
    DYBAT_CUDA_CHECK(cudaGraphCreate(&top, 0));
    cudaGraphConditionalHandle handle;
    DYBAT_CUDA_CHECK(cudaGraphConditionalHandleCreate(&handle, top, 0, 0));
    // top: before -> set(flag) -> while (handle) { body -> set(flag) } -> after. Child graph nodes
    // copy the parts, which are freed below.
    cudaGraphNode_t n_before = nullptr, n_loop = nullptr, n_after = nullptr, n_body = nullptr;
    DYBAT_CUDA_CHECK(cudaGraphAddChildGraphNode(&n_before, top, nullptr, 0, parts[0]));
    cudaGraphNode_t n_set = add_condition_node(top, n_before, handle, flag);
    cudaGraphNodeParams p = {};
    p.type = cudaGraphNodeTypeConditional;
    p.conditional.handle = handle;
    p.conditional.type = cudaGraphCondTypeWhile;
    p.conditional.size = 1;
    DYBAT_CUDA_CHECK(cudaGraphAddNode(&n_loop, top, &n_set, nullptr, 1, &p));
    cudaGraph_t loop = p.conditional.phGraph_out[0];
    DYBAT_CUDA_CHECK(cudaGraphAddChildGraphNode(&n_body, loop, nullptr, 0, parts[1]));
    add_condition_node(loop, n_body, handle, flag);
    DYBAT_CUDA_CHECK(cudaGraphAddChildGraphNode(&n_after, top, &n_loop, 1, parts[2]));
  } catch (const Error& e) {
    destroy_parts();
    if (top) cudaGraphDestroy(top);
    (void)cudaGetLastError();
    DYBAT_FAIL(e.message(), " (building the device-side loop of ", name_, ")");
  }
  destroy_parts();
  exec_ = instantiate(top, name_);
  graph_ = top;
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
void CudaGraph::capture_while(const std::function<void()>&, const int32_t*, const std::function<void()>&,
                              const std::function<void()>&) {
  DYBAT_FAIL("CUDA graphs need the CUDA backend");
}
void CudaGraph::replay() { DYBAT_FAIL("CUDA graphs need the CUDA backend"); }

#endif

}  // namespace dybat
