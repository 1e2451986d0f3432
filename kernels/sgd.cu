// CUDA SGD update: one multi-tensor kernel over a device-side table, then the launcher with the
// table cache.
//
// Every tensor is cut into tiles of kTile elements and the tiles of all tensors are numbered one
// after another; block b handles tiles b, b + grid, ... and finds a tile's tensor by a binary
// search over the table's first-tile numbers. The table (pointers, sizes, first tiles) lives on the
// device and is cached by the list of pointers: a training loop passes the same tensors every step,
// so it is uploaded once and each later step is one launch with no host-to-device copy.
// A table used inside a CUDA-graph capture is pinned: the graph reads it on every replay, so it is
// never evicted (a capture that would need a new table fails at its upload, core/capture.h). The
// learning rate may come from device memory (a pointer), so a captured step follows a schedule.
#include <cstdint>
#include <iterator>
#include <list>
#include <mutex>
#include <vector>

#include "core/backend.h"
#include "core/capture.h"
#include "core/copy.h"
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/cuda_launch.h"
#include "kernels/sgd.h"
#include "kernels/sgd_math.h"

namespace dybat::cuda {

namespace {

constexpr int64_t kTile = 4 * kBlock;  // elements per tile

struct SgdEntry {
  void* param;
  const void* grad;
  void* buf;  // null when momentum is 0
  int64_t numel;
  int64_t first_tile;  // tiles of earlier entries
};

// lr, when not null, replaces s.lr (the learning rate kept in device memory).
template <class T>
__global__ void sgd_multi_tensor_kernel(const SgdEntry* table, int count, int64_t total_tiles, SgdScalars<T> s,
                                        const double* lr) {
  if (lr) s.lr = static_cast<T>(*lr);
  for (int64_t tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
    // The last entry whose first tile is <= tile (entries are non-empty, so it owns the tile).
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) / 2;
      if (table[mid].first_tile <= tile)
        lo = mid;
      else
        hi = mid - 1;
    }
    SgdEntry e = table[lo];
    T* p = static_cast<T*>(e.param);
    const T* g = static_cast<const T*>(e.grad);
    T* b = static_cast<T*>(e.buf);
    int64_t begin = (tile - e.first_tile) * kTile;
    int64_t end = begin + kTile < e.numel ? begin + kTile : e.numel;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) sgd_step(p[i], g[i], b ? b + i : nullptr, s);
  }
}

// A device copy of one table, keyed by everything the kernel reads from it.
struct CachedTable {
  int device = 0;
  std::vector<uintptr_t> key;  // (param, grad, buf, numel) per entry
  Tensor table;                // uint8 bytes on the device holding SgdEntry[count]
  int count = 0;
  int64_t total_tiles = 0;
  bool pinned = false;  // read by a captured CUDA graph: never evicted
};

// A few tables, most recent first (a loop may alternate between parameter groups).
struct TableCache {
  static constexpr size_t kCapacity = 8;
  std::mutex mu;
  std::list<CachedTable> entries;
};

// Leaked on purpose: the cached device tables must not be freed during static destruction, after
// the CUDA runtime may already be gone.
TableCache& table_cache() {
  static TableCache* cache = new TableCache();
  return *cache;
}

}  // namespace

namespace {

void sgd_launch(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt, const double* lr) {
  int dev = params[0].device().index;
  bool use_buf = opt.momentum != 0.0;

  // The host table (tensors without a gradient or without elements are left out) and its key.
  std::vector<SgdEntry> host;
  std::vector<uintptr_t> key;
  int64_t tiles = 0;
  for (size_t t = 0; t < params.size(); ++t) {
    int64_t n = params[t].numel();
    if (!grads[t].defined() || n == 0) continue;
    SgdEntry e{params[t].data_ptr(), grads[t].data_ptr(), use_buf ? bufs[t].data_ptr() : nullptr, n, tiles};
    host.push_back(e);
    key.insert(key.end(), {reinterpret_cast<uintptr_t>(e.param), reinterpret_cast<uintptr_t>(e.grad),
                           reinterpret_cast<uintptr_t>(e.buf), static_cast<uintptr_t>(n)});
    tiles += (n + kTile - 1) / kTile;
  }
  if (host.empty()) return;
  DYBAT_CHECK(host.size() < (size_t(1) << 31), "sgd_update (cuda): too many tensors");

  const SgdEntry* table = nullptr;
  {
    TableCache& cache = table_cache();
    std::lock_guard<std::mutex> lock(cache.mu);
    auto it = cache.entries.begin();
    while (it != cache.entries.end() && !(it->device == dev && it->key == key)) ++it;
    if (it == cache.entries.end()) {
      CachedTable c;
      c.device = dev;
      c.key = std::move(key);
      c.count = static_cast<int>(host.size());
      c.total_tiles = tiles;
      size_t bytes = host.size() * sizeof(SgdEntry);
      c.table = Tensor::empty({static_cast<int64_t>(bytes)}, DType::UInt8, params[0].device());
      copy_host_to_device(c.table.data_ptr(), host.data(), bytes, dev);  // stream-ordered, counted
      cache.entries.push_front(std::move(c));
      // An evicted table is returned to the stream-ordered allocator, so it is reused only after
      // every kernel queued before now (including those that read it) has run. The oldest
      // unpinned one goes.
      if (cache.entries.size() > TableCache::kCapacity) {
        for (auto victim = std::prev(cache.entries.end()); victim != cache.entries.begin(); --victim)
          if (!victim->pinned) {
            cache.entries.erase(victim);
            break;
          }
      }
    } else if (it != cache.entries.begin()) {
      cache.entries.splice(cache.entries.begin(), cache.entries, it);
    }
    if (capture_active()) cache.entries.front().pinned = true;
    table = static_cast<const SgdEntry*>(cache.entries.front().table.data_ptr());
  }

  int count = static_cast<int>(host.size());
  int64_t cap = static_cast<int64_t>(sm_count(dev)) * 8;
  int grid = static_cast<int>(tiles < cap ? tiles : cap);
  dispatch_float(params[0].dtype(), "sgd_update (cuda)", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    SgdScalars<T> s{static_cast<T>(opt.lr), static_cast<T>(opt.momentum), static_cast<T>(opt.weight_decay),
                    opt.nesterov, use_buf};
    sgd_multi_tensor_kernel<T><<<grid, kBlock, 0, stream(dev)>>>(table, count, tiles, s, lr);
    DYBAT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace

void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt) {
  sgd_launch(params, grads, bufs, opt, nullptr);
}

void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt, const Tensor& lr) {
  sgd_launch(params, grads, bufs, opt, lr.data<double>());
}

}  // namespace dybat::cuda
