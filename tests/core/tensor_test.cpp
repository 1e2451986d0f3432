// Tests of Tensor creation, views, copies, dtype conversion and errors.
#include <gtest/gtest.h>

#include "core/copy.h"
#include "core/tensor.h"

using namespace dybat;

TEST(Tensor, CreateAndFill) {
  Tensor t = Tensor::full({2, 3}, 1.5);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_TRUE(t.is_contiguous());
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, 1.5f);
  EXPECT_EQ(Tensor::zeros({0, 4}).numel(), 0);
  EXPECT_EQ(Tensor::scalar(2.0).dim(), 0);
  EXPECT_DOUBLE_EQ(Tensor::scalar(2.0).item(), 2.0);
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, FromVectorChecksCount) {
  EXPECT_THROW(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Error);
  Tensor t = Tensor::from_vector<int64_t>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_THROW(t.data<float>(), Error);
}

TEST(Tensor, ReshapeIsAViewOfContiguousData) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_TRUE(r.same_storage(t));
  EXPECT_THROW(t.reshape({4, -1}), Error);
  EXPECT_THROW(t.reshape({-1, -1}), Error);
  EXPECT_EQ(t.flatten(0).shape(), (Shape{6}));
}

TEST(Tensor, PermuteSliceSelectAndContiguous) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor p = t.permute({1, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 2}));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(p.contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(p.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(p.view({6}), Error);
  EXPECT_EQ(p.reshape({6}).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor s = t.slice(1, 2);
  EXPECT_EQ(s.shape(), (Shape{1, 3}));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(t.select(0).to_vector<float>(), (std::vector<float>{0, 1, 2}));
  EXPECT_THROW(t.slice(1, 3), Error);
  EXPECT_THROW(t.permute({0, 0}), Error);
}

TEST(Tensor, ExpandBroadcastsWithZeroStrides) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3}, {3});
  Tensor e = t.expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{0, 1}));
  EXPECT_EQ(e.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(t.expand({2, 4}), Error);
}

TEST(Tensor, DtypeConversions) {
  Tensor t = Tensor::from_vector<float>({1.5f, -2.25f, 3.0f}, {3});
  EXPECT_EQ(t.to(DType::Float64).to_vector<double>(), (std::vector<double>{1.5, -2.25, 3.0}));
  EXPECT_EQ(t.to(DType::Int32).to_vector<int32_t>(), (std::vector<int32_t>{1, -2, 3}));
  Tensor b = t.to(DType::BFloat16);
  EXPECT_EQ(b.dtype(), DType::BFloat16);
  EXPECT_EQ(b.to(DType::Float32).to_vector<float>(), (std::vector<float>{1.5f, -2.25f, 3.0f}));
  Tensor u = Tensor::from_vector<uint8_t>({0, 128, 255}, {3});
  EXPECT_EQ(u.to(DType::Float32).to_vector<float>(), (std::vector<float>{0, 128, 255}));
}

TEST(Tensor, Bfloat16RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly between two bf16 values (1 and 1 + 2^-7): ties go to the even one, 1.
  EXPECT_EQ(bf16::from_float(1.0f + 1.0f / 256).to_float(), 1.0f);
  // 1 + 3 * 2^-8 is a tie between 1 + 2^-7 (odd mantissa) and 1 + 2^-6 (even): goes up.
  EXPECT_EQ(bf16::from_float(1.0f + 3.0f / 256).to_float(), 1.0f + 1.0f / 64);
  EXPECT_EQ(bf16::from_float(1.0f + 1.0f / 256 + 1.0f / 4096).to_float(), 1.0f + 1.0f / 128);
  EXPECT_TRUE(std::isnan(bf16::from_float(NAN).to_float()));
  EXPECT_EQ(bf16::from_float(INFINITY).to_float(), INFINITY);
}

TEST(Tensor, CopyIntoChecksShapes) {
  Tensor a = Tensor::zeros({2, 3});
  EXPECT_THROW(a.copy_(Tensor::zeros({3, 2})), Error);
  a.copy_(Tensor::ones({2, 3}, DType::Float64));
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>(6, 1.0f)));
}

TEST(Tensor, CopyIntoNonContiguousDestination) {
  Tensor a = Tensor::zeros({3, 2});
  Tensor at = a.permute({1, 0});
  at.copy_(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Tensor, SetDataKeepsHandlesValid) {
  Tensor a = Tensor::zeros({2});
  Tensor handle = a;
  a.set_data(Tensor::ones({3}, DType::Float64));
  EXPECT_EQ(handle.shape(), (Shape{3}));
  EXPECT_EQ(handle.dtype(), DType::Float64);
}

TEST(Tensor, CudaDeviceWithoutBackendIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; this tests the CPU-only path";
  try {
    Tensor::zeros({2}).to(Device::cuda(0));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(m.find("CUDA") != std::string::npos || m.find("cuda") != std::string::npos) << m;
  }
}

TEST(Device, Parse) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:1"), Device::cuda(1));
  EXPECT_EQ(Device::parse("2"), Device::cuda(2));
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
  EXPECT_THROW(Device::parse("gpu"), Error);
  EXPECT_THROW(Device::parse("cuda:x"), Error);
  EXPECT_THROW(Device::parse(""), Error);
}

TEST(DTypeNames, RoundTrip) {
  for (DType t : {DType::Float32, DType::Float64, DType::Int32, DType::Int64, DType::UInt8, DType::BFloat16})
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  EXPECT_THROW(dtype_from_name("float16"), Error);
}

TEST(ErrorType, CarriesFileLineAndMessage) {
  try {
    DYBAT_CHECK(1 == 2, "value ", 3, " is wrong");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "value 3 is wrong");
    EXPECT_NE(std::string(e.what()).find("tensor_test.cpp:"), std::string::npos);
    EXPECT_GT(e.line(), 0);
  }
}

TEST(Copy, AdvanceCounter) {
  Tensor c = Tensor::zeros({1}, DType::Int64);
  for (int i = 0; i < 3; ++i) advance_counter(c);
  EXPECT_EQ(c.item(), 3.0);
  EXPECT_THROW(advance_counter(Tensor::zeros({2}, DType::Int64)), Error);
  EXPECT_THROW(advance_counter(Tensor::zeros({1})), Error);
}
