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
  // `where` names the memory in messages ("cuda:0").
  BlockCache(SystemAllocator& system, std::string where);
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
  void* system_allocate_locked(size_t size, size_t requested);

  SystemAllocator& system_;
  std::string where_;
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

}  // namespace dybat
