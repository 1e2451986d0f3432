// Casts to and from bfloat16: round to nearest even at every kind of boundary (ties, overflow,
// NaN, signed zero, subnormals), an exact round trip for every bf16 value, float64 through
// float32 as PyTorch, the straight-through backward, argument checks (CUDA's bits: tests/cuda/cast_parity_test.cpp).
#include "kernels/cast.h"

#include <cstring>
#include <limits>
#include <random>

#include "core/autograd.h"
#include "core/error.h"
#include "support/kernel_cases.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::bits_of;
using dybat::test::from_bits;
using dybat::test::kBf16Cases;


TEST(Bf16, RoundsToNearestEven) {
  for (auto [in, expect] : kBf16Cases) {
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
  for (auto [u, e] : kBf16Cases) in.push_back(from_bits(u));
  Tensor x = Tensor::from_vector(in, {static_cast<int64_t>(in.size())});
  Tensor y = cast(x, DType::BFloat16);
  ASSERT_EQ(y.dtype(), DType::BFloat16);
  const bf16* yp = y.data<bf16>();
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(yp[i].bits, kBf16Cases[i].second) << i;
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
