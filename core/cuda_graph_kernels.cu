// The device side of CudaGraph::capture_while (core/cuda_graph.h): a one-thread kernel that sets
// a graph's conditional handle from an int32 flag the step keeps in device memory.
#include <cuda_runtime.h>

#include <cstdint>

namespace dybat::cuda {

namespace {

__global__ void set_condition_from_flag(cudaGraphConditionalHandle handle, const int32_t* flag) {
  cudaGraphSetConditional(handle, *flag != 0 ? 1u : 0u);
}

}  // namespace

void* set_condition_kernel() { return reinterpret_cast<void*>(&set_condition_from_flag); }

}  // namespace dybat::cuda
