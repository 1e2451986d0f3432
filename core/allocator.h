// Memory allocators: where every Storage gets its bytes.
//
// Both allocators cache: a freed block goes back to a free list keyed by its rounded size (and,
// on CUDA, by stream), so a steady training step, which frees and allocates the same sizes every
// time, reaches the system allocator (malloc, cudaMalloc) only during its first steps. The
// statistics make that testable: `system_allocs` must stop growing after warm-up.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/error.h"

namespace dybat {

struct AllocatorStats {
  size_t bytes_in_use = 0;       // requested bytes currently handed out (rounded sizes)
  size_t peak_bytes_in_use = 0;  // maximum of bytes_in_use since the last reset_peak()
  size_t bytes_cached = 0;       // bytes held in free lists, ready for reuse
  uint64_t system_allocs = 0;    // calls to malloc / cudaMalloc
  uint64_t system_frees = 0;     // calls to free / cudaFree
  uint64_t allocs = 0;           // allocate() calls served (cached or not)
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns at least `bytes` bytes, 256-byte aligned (never null; throws when memory runs out).
  virtual void* allocate(size_t bytes) = 0;
  // Returns a block from allocate(bytes) to the cache.
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() = 0;
  // Releases every cached block to the system.
  virtual void empty_cache() = 0;
  virtual Device device() const = 0;

  // Private pools for CUDA graphs (the rules are in core/block_cache.h): between begin_pool and
  // end_pool, allocations on the device's stream come from (and return to) `pool`; with
  // `capturing`, one that would need new memory from the system throws. The CPU allocator has none.
  virtual uint64_t create_pool() { DYBAT_FAIL("private memory pools exist only on CUDA devices, not on ", device().str()); }
  virtual void begin_pool(uint64_t pool, bool capturing) {
    DYBAT_FAIL("private memory pools exist only on CUDA devices, not on ", device().str());
  }
  virtual void end_pool() {}
  virtual void release_pool(uint64_t pool) {}
};

Allocator& cpu_allocator();
Allocator& cuda_allocator(int device);  // throws when built without CUDA
Allocator& allocator_for(Device device);

// Size classes shared by both caches: sizes round up to a multiple of 512 bytes below 1 MiB and
// to a quarter of the next power of two above, so reuse is likely and waste stays under 25%.
size_t allocation_size_class(size_t bytes);

// Testing aid: when on, every CPU allocation is filled with 0xFF bytes (NaN in float32/64) before
// it is handed out, so a kernel that reads memory it should only write shows at once.
void set_junk_fill(bool on);
bool junk_fill();

}  // namespace dybat
