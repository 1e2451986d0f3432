// The device allocator's block cache over a fake system allocator: no system allocation once a
// repeated pattern is warm, statistics, per-stream free lists, out-of-memory recovery, and the
// private pools of CUDA graphs (capture needs a warm-up, graph blocks never go to other work while
// the graph lives, blocks freed during a capture are held back).
#include "core/block_cache.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "core/error.h"
#include "support/test_util.h"

using namespace dybat;

namespace {

// Counts calls and can refuse memory beyond a limit (like cudaMalloc's out-of-memory).
class FakeSystem : public SystemAllocator {
 public:
  ~FakeSystem() override {
    for (auto& [p, n] : live_) std::free(p);
  }
  void* allocate(size_t bytes) override {
    if (limit && used + bytes > limit) return nullptr;
    void* p = std::malloc(bytes);
    live_[p] = bytes;
    used += bytes;
    ++allocs;
    return p;
  }
  void free(void* p) override {
    EXPECT_GT(syncs, 0) << "freed without synchronising first";
    used -= live_.at(p);
    live_.erase(p);
    std::free(p);
    ++frees;
  }
  void synchronize() override { ++syncs; }
  size_t limit = 0;  // 0: unlimited
  size_t used = 0;
  int allocs = 0, frees = 0, syncs = 0;

 private:
  std::map<void*, size_t> live_;
};

constexpr StreamId kStream = 7, kOther = 8;

// One "training step": a pattern of allocations and frees with overlapping lifetimes; returns
// every block it used.
std::set<void*> step(BlockCache& c, StreamId s = kStream) {
  std::set<void*> used;
  auto take = [&](size_t n) {
    void* p = c.allocate(n, s);
    used.insert(p);
    return p;
  };
  void* act1 = take(100000);
  void* act2 = take(100000);
  void* ws = take(3000);
  c.deallocate(ws);
  void* grad = take(100000);
  c.deallocate(act2);
  void* big = take(5 << 20);
  c.deallocate(act1);
  c.deallocate(grad);
  c.deallocate(big);
  return used;
}

}  // namespace

TEST(BlockCache, WarmPatternNeedsNoSystemAllocations) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  step(c);
  const int warm = sys.allocs;
  EXPECT_EQ(warm, 5);  // act1, act2, ws, grad (act2 still in use), big
  for (int i = 0; i < 10; ++i) step(c);
  EXPECT_EQ(sys.allocs, warm);
  AllocatorStats st = c.stats();
  EXPECT_EQ(st.system_allocs, 5u);
  EXPECT_EQ(st.allocs, 11u * 5);
  EXPECT_EQ(st.bytes_in_use, 0u);
  EXPECT_EQ(st.bytes_cached, 3 * allocation_size_class(100000) + allocation_size_class(3000) +
                                 allocation_size_class(5 << 20));
  EXPECT_EQ(st.peak_bytes_in_use, 2 * allocation_size_class(100000) + allocation_size_class(5 << 20));
}

TEST(BlockCache, SizeClassesShareBlocksAndStatsFollowUse) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  void* a = c.allocate(1000, kStream);
  EXPECT_EQ(c.stats().bytes_in_use, 1024u);
  c.deallocate(a);
  EXPECT_EQ(c.stats().bytes_in_use, 0u);
  EXPECT_EQ(c.stats().bytes_cached, 1024u);
  EXPECT_EQ(c.allocate(1024, kStream), a);  // the same size class
  EXPECT_EQ(c.stats().bytes_cached, 0u);
  EXPECT_EQ(c.stats().peak_bytes_in_use, 1024u);
  void* b = c.allocate(4096, kStream);
  EXPECT_EQ(c.stats().peak_bytes_in_use, 1024u + 4096u);
  c.deallocate(b);
  c.reset_peak();
  EXPECT_EQ(c.stats().peak_bytes_in_use, 1024u);
  c.deallocate(a);
  EXPECT_THROW(c.deallocate(a), Error);  // already free
  int x = 0;
  EXPECT_THROW(c.deallocate(&x), Error);  // never handed out
  c.deallocate(nullptr);                  // a no-op, like free(nullptr)
}

TEST(BlockCache, StreamsHaveTheirOwnFreeLists) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  void* a = c.allocate(2048, kStream);
  c.deallocate(a);
  void* b = c.allocate(2048, kOther);  // a block freed on another stream is not taken
  EXPECT_NE(a, b);
  EXPECT_EQ(sys.allocs, 2);
  EXPECT_EQ(c.allocate(2048, kStream), a);
  c.deallocate(b);
  EXPECT_EQ(c.allocate(2048, kOther), b);
}

TEST(BlockCache, OutOfMemoryReturnsTheCacheAndRetries) {
  FakeSystem sys;
  sys.limit = 3 << 20;
  BlockCache c(sys, "cuda:1");
  void* a = c.allocate(1 << 20, kStream);
  void* b = c.allocate(1 << 20, kStream);
  c.deallocate(a);
  c.deallocate(b);
  // 2 MiB cached; a 2.5 MiB request needs them returned first.
  void* big = c.allocate((5 << 20) / 2, kStream);
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(sys.frees, 2);
  EXPECT_GE(sys.syncs, 1);
  EXPECT_EQ(c.stats().system_frees, 2u);
  EXPECT_EQ(c.stats().bytes_cached, 0u);
  try {
    c.allocate(1 << 20, kStream);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("out of memory on cuda:1"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("--batch-size"), std::string::npos) << e.message();
  }
  c.deallocate(big);
  c.empty_cache();
  EXPECT_EQ(sys.used, 0u);
}

TEST(BlockCache, CaptureWithoutWarmUpIsAnError) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  PoolId pool = c.create_pool();
  c.begin_pool(pool, kStream, /*capturing=*/true);
  EXPECT_TRUE(c.capturing());
  try {
    c.allocate(512, kStream);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("during a CUDA-graph capture"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("warm-up"), std::string::npos) << e.message();
  }
  void* other = c.allocate(512, kOther);  // other streams are not captured: the default pool serves them
  EXPECT_NE(other, nullptr);
  c.end_pool();
  EXPECT_FALSE(c.capturing());
  EXPECT_EQ(sys.allocs, 1);
}

TEST(BlockCache, WarmUpThenCaptureAndGraphBlocksStayPrivate) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  step(c);  // an ordinary step first: the default pool now caches one set of blocks
  const std::set<void*> eager = step(c);
  PoolId pool = c.create_pool();
  c.begin_pool(pool, kStream, false);  // warm-up: new blocks from the system, into the pool
  const std::set<void*> warm = step(c);
  c.end_pool();
  for (void* p : warm) EXPECT_EQ(eager.count(p), 0u) << "a warm-up block came from the default pool";
  const int after_warm_up = sys.allocs;
  EXPECT_EQ(after_warm_up, 10);
  EXPECT_EQ(c.cached_bytes(pool), c.cached_bytes(kDefaultPool));

  c.begin_pool(pool, kStream, true);  // the capture: every block from the pool
  const std::set<void*> captured = step(c);
  c.end_pool();
  EXPECT_EQ(sys.allocs, after_warm_up);
  for (void* p : captured) EXPECT_EQ(warm.count(p), 1u);

  // While the graph lives, work outside it never receives a graph block.
  for (int i = 0; i < 3; ++i)
    for (void* p : step(c)) EXPECT_EQ(warm.count(p), 0u);
  EXPECT_EQ(sys.allocs, after_warm_up);
  // Replays reuse the pool again.
  c.begin_pool(pool, kStream, true);
  EXPECT_EQ(step(c), captured);
  c.end_pool();

  // Once released, the pool's blocks serve everyone; nothing new is asked of the system.
  c.release_pool(pool);
  EXPECT_EQ(c.cached_bytes(pool), 0u);
  std::vector<void*> held;
  for (int i = 0; i < 6; ++i) held.push_back(c.allocate(100000, kStream));
  EXPECT_EQ(sys.allocs, after_warm_up);
  int from_graph = 0;
  for (void* p : held) from_graph += static_cast<int>(warm.count(p));
  EXPECT_EQ(from_graph, 3);
  for (void* p : held) c.deallocate(p);
  c.empty_cache();
  EXPECT_EQ(sys.used, 0u);  // every block, the graph's included, went back to the system
}

TEST(BlockCache, BlocksFreedDuringACaptureAreHeldUntilRelease) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  void* before = c.allocate(8192, kStream);  // allocated before the capture, used by it, freed inside it
  PoolId pool = c.create_pool();
  c.begin_pool(pool, kStream, true);
  c.deallocate(before);
  c.end_pool();
  EXPECT_EQ(c.cached_bytes(pool), 8192u);
  void* later = c.allocate(8192, kStream);
  EXPECT_NE(later, before);  // held back for the graph
  c.deallocate(later);
  c.release_pool(pool);
  void* a = c.allocate(8192, kStream);
  void* b = c.allocate(8192, kStream);
  EXPECT_TRUE((a == before) != (b == before)) << "the held block is reusable after the release";
  EXPECT_EQ(sys.allocs, 2);
}

TEST(BlockCache, InUseBlocksOfAReleasedPoolJoinTheDefaultPool) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  PoolId pool = c.create_pool();
  c.begin_pool(pool, kStream, false);
  void* kept = c.allocate(4096, kStream);  // e.g. an output that outlives the graph
  c.end_pool();
  c.release_pool(pool);
  c.deallocate(kept);
  EXPECT_EQ(c.cached_bytes(kDefaultPool), 4096u);
  EXPECT_EQ(c.allocate(4096, kStream), kept);
}

TEST(BlockCache, PoolMisuseIsAnError) {
  FakeSystem sys;
  BlockCache c(sys, "cuda:0");
  PoolId a = c.create_pool(), b = c.create_pool();
  EXPECT_NE(a, b);
  EXPECT_THROW(c.begin_pool(kDefaultPool, kStream, false), Error);
  EXPECT_THROW(c.begin_pool(b + 5, kStream, false), Error);  // never created
  c.begin_pool(a, kStream, false);
  EXPECT_THROW(c.begin_pool(b, kStream, false), Error);  // pools do not nest
  EXPECT_THROW(c.release_pool(a), Error);                // still active
  c.end_pool();
  EXPECT_THROW(c.release_pool(kDefaultPool), Error);
  EXPECT_NO_THROW(c.release_pool(a));
}
