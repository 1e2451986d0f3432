// SGD with the learning rate in a tensor (the form a captured CUDA graph uses): the same updates
// as the host value, and the argument checks (CUDA: tests/cuda/sgd_parity_test.cpp).
#include "core/error.h"
#include "kernels/sgd.h"
#include "support/kernel_cases.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::rand;

TEST(Sgd, LearningRateFromATensor) {
  std::vector<Tensor> a = test::sgd_three_steps(Device::cpu(), true), b = test::sgd_three_steps(Device::cpu(), false);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>());
  Tensor p = Tensor::zeros({2});
  Tensor g = Tensor::ones({2});
  SgdOptions opt{0.1, 0.0, 0.0, false};
  EXPECT_THROW(sgd_update({p}, {g}, {}, opt, Tensor::zeros({1})), Error);                    // float32
  EXPECT_THROW(sgd_update({p}, {g}, {}, opt, Tensor::zeros({2}, DType::Float64)), Error);    // two values
  EXPECT_THROW(sgd_update({p}, {g}, {}, opt, Tensor::full({1}, -1.0, DType::Float64)), Error);  // negative
}
