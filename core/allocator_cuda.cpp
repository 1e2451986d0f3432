// The CUDA caching allocator and per-device context (CUDA builds only; see allocator.h).
//
// Free blocks are kept per (stream, size class). All ops run on one stream per device, so a
// block freed by the host can be handed to the next op at once: the stream orders the previous
// kernels' use of it before any new use.
#if defined(DYBAT_CUDA)
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "core/allocator.h"
#include "core/cuda_check.h"
#include "core/cuda_context.h"
#include "core/error.h"

namespace dybat {

namespace {

constexpr int kMaxDevices = 16;

class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(int device) : device_(device) {}

  void* allocate(size_t bytes) override {
    size_t size = allocation_size_class(bytes);
    cudaStream_t s = cuda::stream(device_);
    std::lock_guard<std::mutex> lock(mu_);
    void* ptr = nullptr;
    auto it = free_.find({s, size});
    if (it != free_.end() && !it->second.empty()) {
      ptr = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
    } else {
      cudaError_t e = cudaMalloc(&ptr, size);
      if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();  // clear the sticky-free error and retry after releasing the cache
        release_all_locked();
        e = cudaMalloc(&ptr, size);
      }
      if (e != cudaSuccess) {
        (void)cudaGetLastError();
        DYBAT_FAIL("out of GPU memory on cuda:", device_, " allocating ", bytes, " bytes (", stats_.bytes_in_use,
                   " bytes in use); hint: try a smaller --batch-size or --crop");
      }
      ++stats_.system_allocs;
    }
    ++stats_.allocs;
    owner_[ptr] = s;
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return ptr;
  }

  void deallocate(void* ptr, size_t bytes) override {
    if (!ptr) return;
    size_t size = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto o = owner_.find(ptr);
    cudaStream_t s = o == owner_.end() ? nullptr : o->second;
    if (o != owner_.end()) owner_.erase(o);
    free_[{s, size}].push_back(ptr);
    stats_.bytes_in_use -= size;
    stats_.bytes_cached += size;
  }

  AllocatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }
  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    release_all_locked();
  }
  Device device() const override { return Device::cuda(device_); }

 private:
  void release_all_locked() {
    DYBAT_CUDA_CHECK(cudaDeviceSynchronize());
    for (auto& [key, list] : free_) {
      for (void* p : list) {
        DYBAT_CUDA_CHECK(cudaFree(p));
        ++stats_.system_frees;
      }
      stats_.bytes_cached -= key.second * list.size();
      list.clear();
    }
  }

  int device_;
  mutable std::mutex mu_;
  std::map<std::pair<cudaStream_t, size_t>, std::vector<void*>> free_;
  std::map<void*, cudaStream_t> owner_;
  AllocatorStats stats_;
};

struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
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
