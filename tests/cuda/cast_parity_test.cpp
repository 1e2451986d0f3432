// CUDA's bfloat16 casts give the CPU's bits (the rounding cases of support/kernel_cases.h and
// every exponent), both ways.
#include <cstring>
#include <random>

#include "kernels/cast.h"
#include "support/kernel_cases.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, CastBf16GivesTheCpuBits) {
  DYBAT_REQUIRE_GPU();
  std::mt19937 rng(3);
  std::vector<float> v;
  for (auto [u, e] : kBf16Cases) v.push_back(from_bits(u));
  for (int i = 0; i < 100000; ++i) v.push_back(from_bits(static_cast<uint32_t>(rng())));  // every exponent
  Tensor x = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  Tensor cpu = cast(x, DType::BFloat16);
  Tensor gpu = cast(x.to(Device::cuda()), DType::BFloat16).cpu();
  EXPECT_EQ(std::memcmp(cpu.data_ptr(), gpu.data_ptr(), cpu.nbytes()), 0);
  Tensor back = cast(gpu.to(Device::cuda()), DType::Float32).cpu();
  Tensor back_cpu = cast(cpu, DType::Float32);
  EXPECT_EQ(std::memcmp(back.data_ptr(), back_cpu.data_ptr(), back.nbytes()), 0);
  Tensor d = test::rand({1000}, 7, -1e6, 1e6);
  EXPECT_EQ(std::memcmp(cast(d, DType::BFloat16).data_ptr(),
                        cast(d.to(Device::cuda()), DType::BFloat16).cpu().data_ptr(), 2000),
            0);
}
