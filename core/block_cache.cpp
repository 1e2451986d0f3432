// The block cache of the device allocator (see block_cache.h).
#include "core/block_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace dybat {

BlockCache::BlockCache(SystemAllocator& system, std::string where, bool exact)
    : system_(system), where_(std::move(where)), exact_(exact) {}

void* BlockCache::allocate(size_t bytes, StreamId stream) {
  const size_t size = exact_ ? std::max<size_t>(bytes, 1) : allocation_size_class(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  const bool routed = routing_ && stream == active_stream_;
  const PoolId pool = routed ? active_pool_ : kDefaultPool;
  void* ptr = nullptr;
  auto it = free_.find({pool, stream, size});  // in exact mode the default pool's lists stay empty
  if (it != free_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    stats_.bytes_cached -= size;
  } else {
    DYBAT_CHECK(!(routed && capturing_), "allocating ", bytes, " bytes on ", where_,
                " during a CUDA-graph capture needs new memory: the graph's pool has no free block of ", size,
                " bytes, so the captured work allocates differently from its warm-up run (a capture may only reuse "
                "memory its warm-up freed)");
    ptr = system_allocate_locked(size, bytes);
    blocks_[ptr] = Block{size, stream, pool, false};
  }
  Block& b = blocks_.at(ptr);
  b.in_use = true;
  ++stats_.allocs;
  stats_.bytes_in_use += size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return ptr;
}

void BlockCache::deallocate(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(ptr);
  DYBAT_CHECK(it != blocks_.end() && it->second.in_use, "freeing ", ptr, " on ", where_,
              it == blocks_.end() ? ", which this allocator never handed out" : ", which is already free");
  Block& b = it->second;
  b.in_use = false;
  stats_.bytes_in_use -= b.size;
  stats_.bytes_cached += b.size;
  if (capturing_ && b.pool != active_pool_) {
    held_[active_pool_].push_back(ptr);  // the graph being captured may still use it
    return;
  }
  put_free_locked(ptr);
}

void BlockCache::put_free_locked(void* ptr) {
  const Block& b = blocks_.at(ptr);
  if (exact_ && b.pool == kDefaultPool) {
    if (capturing_) {  // no cudaFree (it synchronises) while a graph is being captured
      held_[active_pool_].push_back(ptr);
      return;
    }
    return system_free_locked(ptr);
  }
  free_[{b.pool, b.stream, b.size}].push_back(ptr);
}

void BlockCache::system_free_locked(void* ptr) {
  const size_t size = blocks_.at(ptr).size;
  system_.synchronize();  // queued work may still use the block
  system_.free(ptr);
  blocks_.erase(ptr);
  ++stats_.system_frees;
  stats_.bytes_cached -= size;
}

AllocatorStats BlockCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void BlockCache::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

void BlockCache::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_default_locked();
}

PoolId BlockCache::create_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_pool_++;
}

void BlockCache::begin_pool(PoolId pool, StreamId stream, bool capturing) {
  std::lock_guard<std::mutex> lock(mu_);
  DYBAT_CHECK(pool != kDefaultPool && pool < next_pool_, "begin_pool: pool ", pool, " was not created on ", where_);
  DYBAT_CHECK(!routing_, "begin_pool: pool ", active_pool_, " is already active on ", where_,
              " (pools do not nest)");
  routing_ = true;
  active_pool_ = pool;
  active_stream_ = stream;
  capturing_ = capturing;
}

void BlockCache::end_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  routing_ = false;
  capturing_ = false;
  active_pool_ = kDefaultPool;
  active_stream_ = 0;
}

void BlockCache::release_pool(PoolId pool) {
  std::lock_guard<std::mutex> lock(mu_);
  DYBAT_CHECK(pool != kDefaultPool, "release_pool: the default pool cannot be released");
  DYBAT_CHECK(!(routing_ && active_pool_ == pool), "release_pool: pool ", pool, " is active on ", where_);
  // Its blocks join the default pool: the cached ones now (in exact mode: back to the system),
  // the ones in use when they are freed.
  std::vector<void*> cached;
  for (auto it = free_.begin(); it != free_.end();) {
    if (std::get<0>(it->first) != pool) {
      ++it;
      continue;
    }
    cached.insert(cached.end(), it->second.begin(), it->second.end());
    it = free_.erase(it);
  }
  for (auto& [ptr, b] : blocks_)
    if (b.pool == pool) b.pool = kDefaultPool;
  for (void* ptr : cached) put_free_locked(ptr);
  // The blocks it held back may now be reused by their own pools.
  auto held = held_.find(pool);
  if (held != held_.end()) {
    std::vector<void*> ptrs = std::move(held->second);
    held_.erase(held);
    for (void* ptr : ptrs) put_free_locked(ptr);
  }
}

bool BlockCache::capturing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return capturing_;
}

size_t BlockCache::cached_bytes(PoolId pool) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [key, list] : free_)
    if (std::get<0>(key) == pool) n += std::get<2>(key) * list.size();
  auto held = held_.find(pool);
  if (held != held_.end())
    for (void* ptr : held->second) n += blocks_.at(ptr).size;
  return n;
}

void BlockCache::release_default_locked() {
  bool synced = false;
  for (auto it = free_.begin(); it != free_.end();) {
    if (std::get<0>(it->first) != kDefaultPool || it->second.empty()) {
      ++it;
      continue;
    }
    if (!synced) {
      system_.synchronize();  // queued work may still use a block about to be freed
      synced = true;
    }
    const size_t size = std::get<2>(it->first);
    for (void* ptr : it->second) {
      system_.free(ptr);
      blocks_.erase(ptr);
      ++stats_.system_frees;
      stats_.bytes_cached -= size;
    }
    it = free_.erase(it);
  }
}

void* BlockCache::system_allocate_locked(size_t size, size_t requested) {
  void* ptr = system_.allocate(size);
  if (!ptr) {
    release_default_locked();  // give the cache back and try once more
    ptr = system_.allocate(size);
  }
  DYBAT_CHECK(ptr, "out of memory on ", where_, " allocating ", requested, " bytes (", stats_.bytes_in_use,
              " bytes in use, ", stats_.bytes_cached, " cached in pools of CUDA graphs); hint: try a smaller "
              "--batch-size or --crop");
  ++stats_.system_allocs;
  return ptr;
}

bool parse_alloc_exact(const char* value) {
  if (!value || !*value || std::strcmp(value, "0") == 0) return false;
  if (std::strcmp(value, "1") == 0) return true;
  DYBAT_FAIL("DYBAT_CUDA_ALLOC_EXACT='", value, "': expected 1 (exact-size, uncached device allocations, for "
             "compute-sanitizer) or 0 (the caching allocator)");
}

bool exact_allocation_requested() { return parse_alloc_exact(std::getenv("DYBAT_CUDA_ALLOC_EXACT")); }

}  // namespace dybat
