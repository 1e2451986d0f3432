// Casts to and from bfloat16: round to nearest even at every kind of boundary (ties, overflow,
// NaN, signed zero, subnormals), an exact round trip for every bf16 value, float64 through
// float32 as PyTorch, the straight-through backward, argument checks; CUDA gives the CPU's bits.
#include "kernels/cast.h"

#include <cstring>
#include <limits>
#include <random>

#include "core/autograd.h"
#include "core/error.h"
#include "support/test_util.h"

using namespace dybat;

namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Float32 inputs (as bit patterns) that stress the rounding, and the bf16 bits expected.
const std::pair<uint32_t, uint16_t> kCases[] = {
    {0x3f800000, 0x3f80},  // 1
    {0x3f808000, 0x3f80},  // 1 + 2^-8: halfway, ties to the even 0x3f80
    {0x3f818000, 0x3f82},  // halfway between 0x3f81 and 0x3f82: to the even 0x3f82
    {0x3f808001, 0x3f81},  // just above halfway
    {0x3f807fff, 0x3f80},  // just below halfway
    {0xbfc00000, 0xbfc0},  // -1.5
    {0x3fffc000, 0x4000},  // rounds up across an exponent boundary
    {0x7f7fffff, 0x7f80},  // the largest float rounds to +inf
    {0x7f7f7fff, 0x7f7f},  // below the halfway point: the largest bf16
    {0x7f800000, 0x7f80},  // +inf
    {0xff800000, 0xff80},  // -inf
    {0x7fc00001, 0x7fc0},  // quiet NaN with payload: the canonical NaN
    {0xffc00000, 0x7fc0},  // negative NaN
    {0x7f800001, 0x7fc0},  // signalling NaN (rounding must not turn it into inf)
    {0x80000000, 0x8000},  // -0
    {0x00000001, 0x0000},  // the smallest subnormal rounds to +0
    {0x00008000, 0x0000},  // subnormal halfway: to the even 0
    {0x00018000, 0x0002},  // subnormal halfway: to the even 2
    {0x00ffffff, 0x0100},  // a mantissa of all ones carries into the next exponent
};

}  // namespace

TEST(Bf16, RoundsToNearestEven) {
  for (auto [in, expect] : kCases) {
    EXPECT_EQ(bf16::from_float(from_bits(in)).bits, expect) << std::hex << "input 0x" << in;
  }
}

TEST(Bf16, EveryValueRoundTrips) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    bf16 v = bf16::from_bits(static_cast<uint16_t>(b));
    float f = v.to_float();
    EXPECT_EQ(bits_of(f), b << 16);  // widening is exact: the bits land in the top half
    uint16_t back = bf16::from_float(f).bits;
    if (std::isnan(f))
      EXPECT_EQ(back, 0x7fc0) << std::hex << b;
    else
      EXPECT_EQ(back, b) << std::hex << b;
  }
}

TEST(Cast, TensorsToAndFromBf16) {
  std::vector<float> in;
  for (auto [u, e] : kCases) in.push_back(from_bits(u));
  Tensor x = Tensor::from_vector(in, {static_cast<int64_t>(in.size())});
  Tensor y = cast(x, DType::BFloat16);
  ASSERT_EQ(y.dtype(), DType::BFloat16);
  const bf16* yp = y.data<bf16>();
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(yp[i].bits, kCases[i].second) << i;
  // Back to float32 and float64: exact.
  Tensor f = cast(y, DType::Float32), d = cast(y, DType::Float64);
  for (size_t i = 0; i < in.size(); ++i) {
    float want = yp[i].to_float();
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(f.data<float>()[i]) && std::isnan(d.data<double>()[i]));
    } else {
      EXPECT_EQ(bits_of(f.data<float>()[i]), bits_of(want));
      EXPECT_EQ(d.data<double>()[i], static_cast<double>(want));
    }
  }
  // The kernel-level forms agree with the op.
  Tensor y2 = Tensor::empty(x.shape(), DType::BFloat16);
  to_bf16(x, y2);
  EXPECT_EQ(std::memcmp(y2.data_ptr(), y.data_ptr(), y.nbytes()), 0);
  Tensor f2 = Tensor::empty(x.shape());
  from_bf16(y, f2);
  EXPECT_EQ(std::memcmp(f2.data_ptr(), f.data_ptr(), f.nbytes()), 0);
  EXPECT_TRUE(cast(x, DType::Float32).same_storage(x));  // already float32: no copy
}

TEST(Cast, Float64GoesThroughFloat32) {
  // 1 + 2^-8 + 2^-40 is above the bf16 halfway point, but its float32 rounding, 1 + 2^-8, is on it
  // and ties to even: PyTorch's double -> bfloat16 gives 1.0, and so must we.
  Tensor x = Tensor::from_vector<double>({1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)}, {1});
  EXPECT_EQ(cast(x, DType::BFloat16).data<bf16>()[0].bits, 0x3f80);
}

TEST(Cast, BackwardConvertsTheGradientBack) {
  Tensor x = test::rand({3, 5}, 4, -2, 2, true, DType::Float32);
  Tensor z = cast(cast(x, DType::BFloat16), DType::Float32);
  EXPECT_TRUE(z.requires_grad());
  Tensor dout = test::rand({3, 5}, 5, -3, 3, false, DType::Float32);
  z.backward(dout);
  // d(bf16 -> float32) = dout; d(float32 -> bf16) rounds it to bf16 and widens it back.
  Tensor expect = dout.to(DType::BFloat16).to(DType::Float32);
  EXPECT_EQ(x.grad().to_vector<float>(), expect.to_vector<float>());
  EXPECT_EQ(x.grad().dtype(), DType::Float32);
  // float64 -> float32 -> float64: the gradient is dout rounded through float32.
  Tensor w = test::rand({4}, 6, -1, 1, true);
  cast(cast(w, DType::Float32), DType::Float64).backward(Tensor::full({4}, 1.0 / 3.0, DType::Float64));
  EXPECT_EQ(w.grad().to_vector<double>()[0], static_cast<double>(static_cast<float>(1.0 / 3.0)));
}

TEST(Cast, BadArguments) {
  Tensor f = Tensor::zeros({4}), b = Tensor::empty({4}, DType::BFloat16);
  EXPECT_THROW(cast(Tensor::zeros({2}, DType::Int64), DType::BFloat16), Error);
  EXPECT_THROW(cast(f, DType::Int32), Error);
  EXPECT_THROW(to_bf16(f, Tensor::empty({5}, DType::BFloat16)), Error);  // shapes
  EXPECT_THROW(to_bf16(b, b), Error);                                      // not from bf16
  EXPECT_THROW(from_bf16(f, f), Error);                                    // not bf16 in
  EXPECT_THROW(to_bf16(f, Tensor::empty({4})), Error);                     // out not bf16
}

TEST(CudaParity, CastBf16GivesTheCpuBits) {
  DYBAT_REQUIRE_GPU();
  std::mt19937 rng(3);
  std::vector<float> v;
  for (auto [u, e] : kCases) v.push_back(from_bits(u));
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
