// The CPU caching allocator: reuse, statistics, junk fill; size classes.
#include <gtest/gtest.h>

#include "core/allocator.h"
#include "core/tensor.h"

using namespace dybat;

TEST(Allocator, SizeClasses) {
  EXPECT_EQ(allocation_size_class(0), 512u);
  EXPECT_EQ(allocation_size_class(1), 512u);
  EXPECT_EQ(allocation_size_class(513), 1024u);
  EXPECT_EQ(allocation_size_class(1 << 20), size_t(1) << 20);
  size_t big = (size_t(1) << 20) + 1;
  EXPECT_GE(allocation_size_class(big), big);
  EXPECT_LE(allocation_size_class(big), big + big / 4);
  for (size_t b : {size_t(3000000), size_t(77777777)}) {
    EXPECT_GE(allocation_size_class(b), b);
    EXPECT_LT(allocation_size_class(b), b + b / 4);
  }
}

TEST(Allocator, SteadyStateReusesBlocks) {
  Allocator& a = cpu_allocator();
  // Warm up: allocate and free the same set of sizes, then repeat; no new system allocation.
  auto step = [] {
    Tensor x = Tensor::empty({123, 77});
    Tensor y = Tensor::empty({4096});
    Tensor z = Tensor::empty({3, 1000, 1000});
  };
  step();
  uint64_t before = a.stats().system_allocs;
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(a.stats().system_allocs, before);
}

TEST(Allocator, StatisticsTrackUse) {
  Allocator& a = cpu_allocator();
  a.reset_peak();
  size_t base = a.stats().bytes_in_use;
  {
    Tensor x = Tensor::empty({1 << 20});  // 4 MiB
    EXPECT_GE(a.stats().bytes_in_use, base + (4u << 20));
    EXPECT_GE(a.stats().peak_bytes_in_use, base + (4u << 20));
  }
  EXPECT_EQ(a.stats().bytes_in_use, base);
  a.empty_cache();
  EXPECT_EQ(a.stats().bytes_cached, 0u);
}

TEST(Allocator, JunkFillMakesUninitialisedFloatsNaN) {
  set_junk_fill(true);
  Tensor x = Tensor::empty({16});
  set_junk_fill(false);
  for (float v : x.to_vector<float>()) EXPECT_TRUE(std::isnan(v));
}
