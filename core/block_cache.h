// The caching logic of the device allocator, apart from where its memory comes from, so that it can
// be tested on any machine: the CUDA allocator runs it over cudaMalloc/cudaFree, the tests over a
// fake system allocator that counts calls.
//
// Blocks. A request is rounded to its size class (allocation_size_class). A freed block goes to a
// free list keyed by (pool, stream, size class) and is handed out again to a request of that size
// class on the same stream from the same pool; only when its list is empty does the cache ask the
// system. Per-stream lists make reuse safe without events: work on one stream runs in order, so a
// block freed by the host after queuing kernels that use it can be given to the next kernel queued
// on that stream at once. A steady training step, which frees and allocates the same sizes every
// time, therefore stops calling the system after its first steps.
//
// Private pools, for CUDA graphs. A captured graph replays kernels on the very addresses they had
// at capture, long after the host freed the tensors that held them; so those blocks must never go
// to work outside the graph while the graph lives. Between begin_pool(P, s, ...) and end_pool(),
// requests on stream s are served from pool P and every block of P returns to P when freed, so
// only later work routed to P can reuse it:
//   - a warm-up run (capturing = false) of the step routes its allocations to P, taking new blocks
//     from the system as needed; freed at the end of the step, they fill P's free lists;
//   - the capture (capturing = true) then finds every block it needs in P. Asking the system while
//     capturing is an error (cudaMalloc is not allowed in a capture): the captured work allocates
//     differently from its warm-up;
//   - a block of another pool freed during a capture is held back (the graph may read it) until
//     release_pool(P), when the graph is gone;
//   - release_pool(P) also hands P's cached blocks to the default pool, and its blocks still in use
//     join the default pool when they are freed.
// Requests on other streams, and all requests outside begin/end, use the default pool.
//
// Exact mode (DYBAT_CUDA_ALLOC_EXACT=1), for compute-sanitizer's memcheck, which sees an access
// as out of bounds only past the end of the allocation the system made: a cached block is
// rounded up to its size class and reused by later tensors, so an overrun into the rounding, or
// into a block another tensor held before, goes unseen. In exact mode every request is served at
// its exact size (at least one byte), and the default pool caches nothing: each request is a new
// system allocation and each free returns the block to the system at once (after synchronising,
// as the block may still be in use by queued work). Private pools keep caching, at exact sizes:
// a capture cannot call cudaMalloc (nor cudaFree, which synchronises), so a graph's blocks must
// come from its warm-up, and the replays must keep their addresses. Overruns inside a graph's
// blocks are therefore seen only past each block's exact end, and a block reused within its graph
// pool is not seen as use-after-free. A block of the default pool freed during a capture is held
// back as always, and returned to the system when the pool is released; so are the pool's
// cached blocks, and its blocks still in use when they are freed. Much slower (a system call and
// a device synchronisation per allocation and free): meant for the sanitizer runs only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"

namespace dybat {

// Where a BlockCache gets its memory.
class SystemAllocator {
 public:
  virtual ~SystemAllocator() = default;
  virtual void* allocate(size_t bytes) = 0;  // nullptr when out of memory
  virtual void free(void* ptr) = 0;
  // Waits until no queued work can still use memory about to be freed (before returning cached
  // blocks to the system).
  virtual void synchronize() {}
};

using StreamId = uintptr_t;
using PoolId = uint64_t;
constexpr PoolId kDefaultPool = 0;

class BlockCache {
 public:
  // `where` names the memory in messages ("cuda:0"); `exact` selects exact mode (file comment).
  BlockCache(SystemAllocator& system, std::string where, bool exact = false);
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // A block of at least `bytes` for work on `stream`; throws when memory runs out, or when it would
  // need the system while capturing.
  void* allocate(size_t bytes, StreamId stream);
  // Returns a block from allocate() to its free list (throws for an unknown pointer).
  void deallocate(void* ptr);

  AllocatorStats stats() const;
  void reset_peak();
  // Returns the default pool's cached blocks to the system (private pools keep theirs).
  void empty_cache();

  // ---- private pools (see the file comment) ----
  PoolId create_pool();
  void begin_pool(PoolId pool, StreamId stream, bool capturing);
  void end_pool();
  void release_pool(PoolId pool);
  bool capturing() const;
  bool exact() const { return exact_; }
  // Bytes in `pool`'s free lists (and, for a private pool, the blocks it holds back).
  size_t cached_bytes(PoolId pool) const;

 private:
  struct Block {
    size_t size;
    StreamId stream;
    PoolId pool;
    bool in_use;
  };
  using FreeKey = std::tuple<PoolId, StreamId, size_t>;

  void release_default_locked();
  // Exact mode: returns a free block of the default pool to the system.
  void system_free_locked(void* ptr);
  // Where a free, unheld block goes: its pool's free list, or the system (exact mode, default pool).
  void put_free_locked(void* ptr);
  void* system_allocate_locked(size_t size, size_t requested);

  SystemAllocator& system_;
  std::string where_;
  bool exact_;
  mutable std::mutex mu_;
  std::map<FreeKey, std::vector<void*>> free_;
  std::unordered_map<void*, Block> blocks_;  // every block handed out or cached, by address
  // Private pools: the blocks of other pools each one holds back (freed during its capture).
  std::map<PoolId, std::vector<void*>> held_;
  PoolId next_pool_ = 1;
  // The active pool routing, if any.
  bool routing_ = false;
  PoolId active_pool_ = kDefaultPool;
  StreamId active_stream_ = 0;
  bool capturing_ = false;
  AllocatorStats stats_;
};

// The value of DYBAT_CUDA_ALLOC_EXACT: unset, empty or "0" is off, "1" on; anything else throws,
// naming the variable and what it takes. exact_allocation_requested() reads the environment.
bool parse_alloc_exact(const char* value);
bool exact_allocation_requested();

}  // namespace dybat
