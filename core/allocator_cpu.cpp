// The CPU caching allocator (see allocator.h).
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"

namespace dybat {

namespace {

bool g_junk_fill = false;

class CpuCachingAllocator final : public Allocator {
 public:
  ~CpuCachingAllocator() override { empty_cache(); }

  void* allocate(size_t bytes) override {
    size_t size = allocation_size_class(bytes);
    void* ptr = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        ptr = it->second.back();
        it->second.pop_back();
        stats_.bytes_cached -= size;
      }
      if (!ptr) {
        ptr = std::aligned_alloc(256, size);
        if (!ptr) {
          // Release the cache and try once more before giving up.
          release_all_locked();
          ptr = std::aligned_alloc(256, size);
        }
        DYBAT_CHECK(ptr, "out of host memory allocating ", bytes, " bytes; hint: try a smaller --batch-size or --crop");
        ++stats_.system_allocs;
      }
      ++stats_.allocs;
      stats_.bytes_in_use += size;
      if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    }
    if (g_junk_fill) std::memset(ptr, 0xFF, size);
    return ptr;
  }

  void deallocate(void* ptr, size_t bytes) override {
    if (!ptr) return;
    size_t size = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    free_[size].push_back(ptr);
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
  Device device() const override { return Device::cpu(); }

 private:
  void release_all_locked() {
    for (auto& [size, list] : free_) {
      for (void* p : list) {
        std::free(p);
        ++stats_.system_frees;
      }
      stats_.bytes_cached -= size * list.size();
      list.clear();
    }
  }

  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

}  // namespace

size_t allocation_size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  constexpr size_t kSmall = 1 << 20;
  if (bytes <= kSmall) return (bytes + 511) / 512 * 512;
  size_t pow2 = kSmall;
  while (pow2 < bytes) pow2 <<= 1;
  size_t step = pow2 / 8;  // the interval (pow2/2, pow2] is cut in four steps of pow2/8
  return (bytes + step - 1) / step * step;
}

void set_junk_fill(bool on) { g_junk_fill = on; }
bool junk_fill() { return g_junk_fill; }

Allocator& cpu_allocator() {
  // Leaked on purpose: tensors in static storage may be destroyed after any other static.
  static CpuCachingAllocator* a = new CpuCachingAllocator();
  return *a;
}

Allocator& allocator_for(Device device) {
  return device.is_cuda() ? cuda_allocator(device.index) : cpu_allocator();
}

#if !defined(DYBAT_CUDA)
Allocator& cuda_allocator(int) { DYBAT_FAIL("this build has no CUDA backend; rebuild with -DDYBAT_CUDA=ON or use --device cpu"); }
bool cuda_available() { return false; }
int cuda_device_count() { return 0; }
#endif

}  // namespace dybat
