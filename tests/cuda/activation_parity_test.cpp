// CUDA activations against the reference (kernels/reference/activation.h), forward and backward,
// kinks included.
#include "support/parity_util.h"
#include "kernels/activation.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, Activations) {
  DYBAT_REQUIRE_GPU();
  for (Act a : {Act::None, Act::ReLU, Act::ReLU6, Act::Sigmoid, Act::SiLU, Act::HardSigmoid, Act::HardSwish}) {
    for (Shape s : {Shape{3, 1000, 7}, Shape{257}, Shape{1}}) {
      Tensor x = round32(rand(s, 1, -8, 8)), g = round32(rand(s, 2));
      Tensor xg = to_gpu32(x, true);
      Tensor y = activation(xg, a);
      y.backward(to_gpu32(g));
      EXPECT_TRUE(close_to_ref(y, ref_activation_forward(x, a), 1e-6)) << act_name(a) << " " << shape_str(s);
      EXPECT_TRUE(close_to_ref(xg.grad(), ref_activation_backward(g, x, a), 1e-6)) << act_name(a) << " " << shape_str(s);
    }
  }
}

TEST(CudaParity, ActivationKinks) {
  DYBAT_REQUIRE_GPU();
  // Exactly representable kink points: the GPU must pick the same side as PyTorch (and the reference).
  Tensor x = Tensor::from_vector<double>({-3, 0, 3, 6, 1, -1}, {6});
  for (Act a : {Act::ReLU, Act::ReLU6, Act::HardSigmoid, Act::HardSwish, Act::SiLU}) {
    Tensor xg = to_gpu32(x, true);
    activation(xg, a).backward(Tensor::ones({6}, DType::Float32, Device::cuda(0)));
    EXPECT_TRUE(close_to_ref(xg.grad(), ref_activation_backward(Tensor::ones({6}, DType::Float64), x, a), 1e-6))
        << act_name(a);
  }
}
