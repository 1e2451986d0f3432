// SGD with the learning rate in a tensor (the form a captured CUDA graph uses): the same updates
// as the host value, on both devices, and the argument checks.
#include "core/error.h"
#include "kernels/sgd.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::rand;

namespace {
// Three updates of two parameters with momentum and weight decay, the rate given either way.
std::vector<Tensor> three_steps(Device d, bool as_tensor) {
  std::vector<Tensor> ps = {rand({7}, 1).to(DType::Float32).to(d), rand({3, 5}, 2).to(DType::Float32).to(d)};
  std::vector<Tensor> bs = {ps[0].zeros_like(), ps[1].zeros_like()};
  SgdOptions opt{0.0, 0.9, 1e-3, true};
  Tensor lr = Tensor::zeros({1}, DType::Float64, d);
  for (int s = 0; s < 3; ++s) {
    const double rate = 0.05 / (s + 1);
    std::vector<Tensor> gs = {rand({7}, 10 + s).to(DType::Float32).to(d), rand({3, 5}, 20 + s).to(DType::Float32).to(d)};
    if (as_tensor) {
      lr.fill_(rate);
      sgd_update(ps, gs, bs, opt, lr);
    } else {
      SgdOptions o = opt;
      o.lr = rate;
      sgd_update(ps, gs, bs, o);
    }
  }
  return ps;
}
}  // namespace

TEST(Sgd, LearningRateFromATensor) {
  std::vector<Tensor> a = three_steps(Device::cpu(), true), b = three_steps(Device::cpu(), false);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>());
  Tensor p = Tensor::zeros({2});
  Tensor g = Tensor::ones({2});
  SgdOptions opt{0.1, 0.0, 0.0, false};
  EXPECT_THROW(sgd_update({p}, {g}, {}, opt, Tensor::zeros({1})), Error);                    // float32
  EXPECT_THROW(sgd_update({p}, {g}, {}, opt, Tensor::zeros({2}, DType::Float64)), Error);    // two values
  EXPECT_THROW(sgd_update({p}, {g}, {}, opt, Tensor::full({1}, -1.0, DType::Float64)), Error);  // negative
}

TEST(CudaParity, SgdLearningRateFromATensor) {
  DYBAT_REQUIRE_GPU();
  std::vector<Tensor> a = three_steps(Device::cuda(), true), b = three_steps(Device::cuda(), false),
                      c = three_steps(Device::cpu(), false);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>());  // the same kernel, the same rate
    EXPECT_LE(test::max_abs_diff(a[i].cpu(), c[i]), 1e-6);
  }
}
