// The CUDA caching allocator on a device: a repeated allocation pattern stops calling cudaMalloc
// (unless DYBAT_CUDA_ALLOC_EXACT=1 asks for exact, uncached allocations), and a pool in capture
// mode refuses to take new memory from the system. Also the trivial program tools/gpu-check runs
// under compute-sanitizer to learn whether the sanitizer can run on the machine at all.
#include "core/allocator.h"
#include "core/block_cache.h"
#include "core/error.h"
#include "core/tensor.h"
#include "support/test_util.h"

using namespace dybat;

TEST(CudaAllocator, SteadyStateReusesBlocks) {
  DYBAT_REQUIRE_GPU();
  Allocator& a = cuda_allocator(0);
  auto step = [] {
    Tensor x = Tensor::empty({123, 77}, DType::Float32, Device::cuda());
    Tensor y = Tensor::empty({4096}, DType::Float32, Device::cuda());
    Tensor z = Tensor::empty({3, 1000, 1000}, DType::Float32, Device::cuda());
  };
  step();
  uint64_t before = a.stats().system_allocs, frees = a.stats().system_frees;
  for (int i = 0; i < 5; ++i) step();
  if (exact_allocation_requested()) {  // every allocation is cudaMalloc'd and every free cudaFree'd
    EXPECT_EQ(a.stats().system_allocs, before + 5 * 3);
    EXPECT_EQ(a.stats().system_frees, frees + 5 * 3);
  } else {
    EXPECT_EQ(a.stats().system_allocs, before);
  }
}

TEST(CudaSanitizerProbe, OneAllocationAndOneKernel) {
  // What tools/gpu-check runs under each compute-sanitizer tool first: where the sanitizer cannot
  // run this (some machines' drivers refuse it: "Device not supported"), it cannot run anything.
  DYBAT_REQUIRE_GPU();
  Tensor t = Tensor::empty({1000}, DType::Float32, Device::cuda());
  t.fill_(2.5);
  EXPECT_EQ(t.to_vector<float>(), std::vector<float>(1000, 2.5f));
}

TEST(CudaAllocator, CapturePoolNeedsAWarmUp) {
  DYBAT_REQUIRE_GPU();
  Allocator& a = cuda_allocator(0);
  uint64_t pool = a.create_pool();
  void* warm = nullptr;
  {
    a.begin_pool(pool, /*capturing=*/false);
    Tensor t = Tensor::empty({777777}, DType::Float32, Device::cuda());
    warm = t.data_ptr();
    a.end_pool();
  }
  a.begin_pool(pool, /*capturing=*/true);
  {
    Tensor again = Tensor::empty({777777}, DType::Float32, Device::cuda());  // served by the pool
    EXPECT_EQ(again.data_ptr(), warm);
  }
  EXPECT_THROW(Tensor::empty({999999}, DType::Float32, Device::cuda()), Error);  // would need cudaMalloc
  a.end_pool();
  Tensor outside = Tensor::empty({777777}, DType::Float32, Device::cuda());
  EXPECT_NE(outside.data_ptr(), warm);  // the pool's block stays private
  a.release_pool(pool);
}
