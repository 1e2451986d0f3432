// The CUDA caching allocator and per-device context (CUDA builds only; see allocator.h).
//
// The caching itself is core/block_cache.h (free lists per pool, stream and size class, private
// pools for CUDA graphs), run here over cudaMalloc and cudaFree. All ops run on one stream per
// device, so a block freed by the host can be handed to the next op at once: the stream orders
// the previous kernels' use of it before any new use. DYBAT_CUDA_ALLOC_EXACT=1 selects the cache's
// exact mode (exact sizes, nothing cached outside graph pools) for compute-sanitizer runs.
#if defined(DYBAT_CUDA)
#include <cstdio>
#include <mutex>
#include <string>

#include "core/allocator.h"
#include "core/block_cache.h"
#include "core/cuda_check.h"
#include "core/cuda_context.h"
#include "core/error.h"

namespace dybat {

namespace {

constexpr int kMaxDevices = 16;

class CudaSystem final : public SystemAllocator {
 public:
  explicit CudaSystem(int device) : device_(device) {}
  void* allocate(size_t bytes) override {
    DYBAT_CUDA_CHECK(cudaSetDevice(device_));
    void* ptr = nullptr;
    cudaError_t e = cudaMalloc(&ptr, bytes);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the error; the cache releases its blocks and retries
      return nullptr;
    }
    DYBAT_CUDA_CHECK(e);
    return ptr;
  }
  void free(void* ptr) override { DYBAT_CUDA_CHECK(cudaFree(ptr)); }
  void synchronize() override {
    DYBAT_CUDA_CHECK(cudaSetDevice(device_));
    DYBAT_CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  int device_;
};

class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(int device)
      : device_(device), system_(device), cache_(system_, Device::cuda(device).str(), exact_allocation_requested()) {
    if (cache_.exact())
      std::fprintf(stderr, "dybat: DYBAT_CUDA_ALLOC_EXACT=1: exact-size, uncached allocations on %s (slow; meant "
                   "for compute-sanitizer)\n", Device::cuda(device).str().c_str());
  }

  void* allocate(size_t bytes) override { return cache_.allocate(bytes, stream_id()); }
  void deallocate(void* ptr, size_t) override { cache_.deallocate(ptr); }
  AllocatorStats stats() const override { return cache_.stats(); }
  void reset_peak() override { cache_.reset_peak(); }
  void empty_cache() override { cache_.empty_cache(); }
  Device device() const override { return Device::cuda(device_); }

  uint64_t create_pool() override { return cache_.create_pool(); }
  void begin_pool(uint64_t pool, bool capturing) override { cache_.begin_pool(pool, stream_id(), capturing); }
  void end_pool() override { cache_.end_pool(); }
  void release_pool(uint64_t pool) override { cache_.release_pool(pool); }

 private:
  StreamId stream_id() const { return reinterpret_cast<StreamId>(cuda::stream(device_)); }

  int device_;
  CudaSystem system_;
  BlockCache cache_;
};

struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  void* cublas_workspace = nullptr;
  int sms = 0;
};

std::mutex g_ctx_mu;
DeviceContext g_ctx[kMaxDevices];

DeviceContext& context(int device) {
  DYBAT_CHECK(device >= 0 && device < cuda_device_count(), "CUDA device ", device, " does not exist (",
              cuda_device_count(), " found)");
  DYBAT_CUDA_CHECK(cudaSetDevice(device));
  std::lock_guard<std::mutex> lock(g_ctx_mu);
  DeviceContext& c = g_ctx[device];
  if (!c.stream) {
    DYBAT_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
    DYBAT_CUBLAS_CHECK(cublasCreate(&c.cublas));
    DYBAT_CUBLAS_CHECK(cublasSetStream(c.cublas, c.stream));
    // cuBLAS gets its workspace once, here, so it never allocates inside a CUDA-graph capture
    // (32 MiB from sm_90 on, 4 MiB before, the sizes cuBLAS's documentation recommends). Taken
    // straight from cudaMalloc: the caching allocator itself asks this context for the stream.
    int major = 0;
    DYBAT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    const size_t ws = major >= 9 ? size_t(32) << 20 : size_t(4) << 20;
    DYBAT_CUDA_CHECK(cudaMalloc(&c.cublas_workspace, ws));
    DYBAT_CUBLAS_CHECK(cublasSetWorkspace(c.cublas, c.cublas_workspace, ws));
    DYBAT_CUDNN_CHECK(cudnnCreate(&c.cudnn));
    DYBAT_CUDNN_CHECK(cudnnSetStream(c.cudnn, c.stream));
    DYBAT_CUDA_CHECK(cudaDeviceGetAttribute(&c.sms, cudaDevAttrMultiProcessorCount, device));
  }
  return c;
}

}  // namespace

namespace cuda {
cudaStream_t stream(int device) { return context(device).stream; }
cublasHandle_t cublas(int device) { return context(device).cublas; }
cudnnHandle_t cudnn(int device) { return context(device).cudnn; }
int sm_count(int device) { return context(device).sms; }
}  // namespace cuda

Allocator& cuda_allocator(int device) {
  DYBAT_CHECK(device >= 0 && device < kMaxDevices, "CUDA device index ", device, " out of range");
  static CudaCachingAllocator* allocators[kMaxDevices] = {};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!allocators[device]) allocators[device] = new CudaCachingAllocator(device);  // leaked on purpose
  return *allocators[device];
}

int cuda_device_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();
      n = 0;
    }
    return n;
  }();
  return count;
}

bool cuda_available() { return cuda_device_count() > 0; }

}  // namespace dybat
#endif  // DYBAT_CUDA
