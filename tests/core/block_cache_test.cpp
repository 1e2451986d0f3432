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

// ---- exact mode (DYBAT_CUDA_ALLOC_EXACT=1, for compute-sanitizer) ----

TEST(BlockCache, ExactModeServesExactSizesAndCachesNothing) {
  FakeSystem rounded_sys, sys;
  BlockCache rounded(rounded_sys, "cuda:0"), c(sys, "cuda:0", /*exact=*/true);
  EXPECT_FALSE(rounded.exact());
  EXPECT_TRUE(c.exact());
  void* r = rounded.allocate(100, kStream);
  EXPECT_EQ(rounded_sys.used, 512u);  // the caching mode rounds up: memcheck would miss bytes 100..511
  rounded.deallocate(r);

  void* a = c.allocate(100, kStream);
  EXPECT_EQ(sys.used, 100u);
  EXPECT_EQ(c.stats().bytes_in_use, 100u);
  c.deallocate(a);  // straight back to the system, after a synchronisation
  EXPECT_EQ(sys.used, 0u);
  EXPECT_EQ(sys.frees, 1);
  EXPECT_GE(sys.syncs, 1);
  EXPECT_EQ(c.stats().bytes_cached, 0u);
  c.deallocate(c.allocate(0, kStream));  // at least one byte
  EXPECT_EQ(sys.allocs, 2);

  // A warm pattern keeps asking the system: no block is ever reused by another tensor.
  for (int i = 0; i < 3; ++i) step(c);
  EXPECT_EQ(sys.allocs, 2 + 3 * 5);
  EXPECT_EQ(sys.frees, sys.allocs);
  EXPECT_EQ(c.stats().system_allocs, static_cast<uint64_t>(sys.allocs));
  EXPECT_EQ(c.stats().system_frees, static_cast<uint64_t>(sys.frees));
  EXPECT_EQ(c.stats().bytes_in_use, 0u);
  EXPECT_EQ(c.stats().bytes_cached, 0u);
  EXPECT_EQ(sys.used, 0u);
}

TEST(BlockCache, ExactModeKeepsGraphPoolsWorking) {
  // A capture cannot take memory from the system: the graph pool caches, at exact sizes.
  FakeSystem sys;
  BlockCache c(sys, "cuda:0", /*exact=*/true);
  void* outside = c.allocate(3000, kStream);  // freed during the capture: held back, not freed
  PoolId pool = c.create_pool();
  c.begin_pool(pool, kStream, false);
  const std::set<void*> warm = step(c);
  c.end_pool();
  EXPECT_EQ(sys.used, 3000u + 3 * 100000 + 3000 + (5 << 20));  // exact sizes, kept by the pool
  const int after_warm_up = sys.allocs;

  c.begin_pool(pool, kStream, true);
  EXPECT_EQ(step(c), warm);  // the same blocks, so replays keep their addresses
  EXPECT_THROW(c.allocate(100001, kStream), Error);  // a size the warm-up never freed
  const int frees_before = sys.frees;
  c.deallocate(outside);
  EXPECT_EQ(sys.frees, frees_before);  // no cudaFree inside a capture
  c.end_pool();
  EXPECT_EQ(sys.allocs, after_warm_up);

  c.begin_pool(pool, kStream, false);
  void* kept = c.allocate(100000, kStream);  // still in use when the pool goes
  c.end_pool();
  c.release_pool(pool);  // the held block and the pool's cached blocks go back to the system
  EXPECT_EQ(sys.used, 100000u);
  c.deallocate(kept);  // now a default-pool block: freed at once
  EXPECT_EQ(sys.used, 0u);
  EXPECT_EQ(c.cached_bytes(kDefaultPool), 0u);
  EXPECT_EQ(c.stats().bytes_cached, 0u);
}

TEST(BlockCache, ExactModeSwitchTakesZeroOrOne) {
  EXPECT_FALSE(parse_alloc_exact(nullptr));
  EXPECT_FALSE(parse_alloc_exact(""));
  EXPECT_FALSE(parse_alloc_exact("0"));
  EXPECT_TRUE(parse_alloc_exact("1"));
  for (const char* bad : {"yes", "2", "1 ", "true"}) {
    std::string msg = test::error_of([&] { parse_alloc_exact(bad); });
    EXPECT_NE(msg.find("DYBAT_CUDA_ALLOC_EXACT='"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("expected 1"), std::string::npos) << msg;
  }
}
