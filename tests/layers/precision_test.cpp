// Mixed precision in the layers: set_compute_dtype reaches every Conv2d and Linear; a bf16 layer
// refuses the CPU with a clear message. The bf16 runs themselves are CUDA's
// (tests/cuda/precision_cuda_test.cpp).
#include "layers/precision.h"

#include "core/error.h"
#include "kernels/cast.h"
#include "kernels/matmul.h"
#include "support/precision_net.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::rand;

TEST(Precision, SetComputeDtypeReachesConvAndLinear) {
  test::SmallPrecisionNet net;
  EXPECT_EQ(set_compute_dtype(net, DType::BFloat16), 3);
  EXPECT_EQ(net.conv1->compute_dtype(), DType::BFloat16);
  EXPECT_EQ(net.conv2->compute_dtype(), DType::BFloat16);
  EXPECT_EQ(net.fc->compute_dtype(), DType::BFloat16);
  EXPECT_THROW(set_compute_dtype(net, DType::Float64), Error);
  EXPECT_EQ(precision_from_name("bf16"), DType::BFloat16);
  EXPECT_EQ(precision_from_name("fp32"), DType::Float32);
  EXPECT_THROW(precision_from_name("fp16"), Error);

  // The CPU has no bf16 kernels: a clear refusal, not a wrong answer.
  Tensor x = rand({2, 3, 8, 8}, 1, -1, 1, false, DType::Float32);
  try {
    net(x);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("bfloat16 convolutions run on CUDA only"), std::string::npos) << e.message();
  }
  EXPECT_THROW(linear(to_bf16(Tensor::ones({2, 3})), to_bf16(Tensor::ones({4, 3})), Tensor()), Error);

  set_compute_dtype(net, DType::Float32);
  EXPECT_EQ(net.conv1->compute_dtype(), DType::Float32);
  EXPECT_EQ(net(x).shape(), (Shape{2, 10}));
}
