// CUDA activations against the CPU float64 reference, forward and backward, kinks included.
#include "cuda/parity_util.h"
#include "kernels/activation.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, Activations) {
  DYBAT_REQUIRE_GPU();
  for (Act a : {Act::None, Act::ReLU, Act::ReLU6, Act::Sigmoid, Act::SiLU, Act::HardSigmoid, Act::HardSwish}) {
    for (Shape s : {Shape{3, 1000, 7}, Shape{257}, Shape{1}}) {
      Tensor x = round32(rand(s, 1, -8, 8), true), g = round32(rand(s, 2));
      activation(x, a).backward(g);
      Tensor xg = to_gpu32(x, true);
      Tensor y = activation(xg, a);
      y.backward(to_gpu32(g));
      EXPECT_TRUE(close_to_ref(y, activation(x.detach(), a), 1e-6)) << act_name(a) << " " << shape_str(s);
      EXPECT_TRUE(close_to_ref(xg.grad(), x.grad(), 1e-6)) << act_name(a) << " " << shape_str(s);
    }
  }
}

TEST(CudaParity, ActivationKinks) {
  DYBAT_REQUIRE_GPU();
  // Exactly representable kink points: the GPU must pick the same side as PyTorch (and the CPU).
  Tensor x = Tensor::from_vector<double>({-3, 0, 3, 6, 1, -1}, {6}).set_requires_grad(true);
  for (Act a : {Act::ReLU, Act::ReLU6, Act::HardSigmoid, Act::HardSwish, Act::SiLU}) {
    Tensor xc = x.detach().clone().set_requires_grad(true);
    activation(xc, a).backward(Tensor::ones({6}, DType::Float64));
    Tensor xg = to_gpu32(x, true);
    activation(xg, a).backward(Tensor::ones({6}, DType::Float32, Device::cuda(0)));
    EXPECT_TRUE(close_to_ref(xg.grad(), xc.grad(), 1e-6)) << act_name(a);
  }
}
