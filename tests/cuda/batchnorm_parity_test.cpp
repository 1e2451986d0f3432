// CUDA fused batch norm against the reference (kernels/reference/batchnorm.h composed with the
// activation): outputs, running statistics and every gradient in the three modes, with and
// without residual, for several activations and shapes.
#include "support/parity_util.h"
#include "kernels/batchnorm.h"

using namespace dybat;
using namespace dybat::test;

namespace {
struct Case {
  Shape shape;
  int mode;  // 0 train, 1 batch statistics without update, 2 running statistics
  Act act;
  bool residual;
};
}  // namespace

TEST(CudaParity, BatchNormForwardBackward) {
  DYBAT_REQUIRE_GPU();
  // Large (many slices per channel), odd, 1x1 with batch 2, 2-d, batch 1 with spatial extent.
  std::vector<Shape> shapes{{16, 64, 28, 28}, {3, 7, 5, 3}, {2, 5, 1, 1}, {37, 129}, {1, 3, 4, 5}, {4, 1000, 1, 1}};
  std::vector<Case> cases;
  // On the large shape only smooth activations: with ~800k values, some pre-activation would sit
  // within float32 rounding of a kink (relu at 0, hardswish at +-3), where the float32 GPU and the
  // float64 reference may legitimately take different sides. Kinks are covered on the small shapes.
  for (const Shape& s : shapes)
    for (int mode : {0, 1, 2})
      for (Act act : {Act::None, Act::ReLU, Act::SiLU, Act::HardSwish})
        if (shape_numel(s) < 100000 || act == Act::None || act == Act::SiLU)
          cases.push_back({s, mode, act, act != Act::SiLU});
  uint64_t seed = 100;
  for (const Case& k : cases) {
    int64_t c = k.shape[1];
    BatchNormOptions opt{k.mode != 2, k.mode == 0, 0.1, 1e-5, k.act};
    Tensor x = round32(rand(k.shape, seed++, -2, 3)), res = round32(rand(k.shape, seed++));
    Tensor gamma = round32(rand({c}, seed++, 0.5, 1.5)), beta = round32(rand({c}, seed++));
    Tensor rm = round32(rand({c}, seed++)), rv = round32(rand({c}, seed++, 0.5, 2));
    Tensor g = round32(rand(k.shape, seed++));
    Tensor xg = to_gpu32(x, true), resg = to_gpu32(res, true), gammag = to_gpu32(gamma, true),
           betag = to_gpu32(beta, true), rmg = to_gpu32(rm), rvg = to_gpu32(rv);
    std::string what = shape_str(k.shape) + " mode " + std::to_string(k.mode) + " " + act_name(k.act);
    RefBatchNorm ref = ref_batch_norm(x, gamma, beta, rm, rv, opt, k.residual ? res : Tensor(), g);
    Tensor outg = batch_norm(xg, gammag, betag, rmg, rvg, opt, k.residual ? resg : Tensor());
    outg.backward(to_gpu32(g));
    EXPECT_TRUE(close_to_ref(outg, ref.out, 1e-5)) << what;
    EXPECT_TRUE(close_to_ref(rmg, ref.running_mean, 1e-6)) << what;
    EXPECT_TRUE(close_to_ref(rvg, ref.running_var, 1e-6)) << what;
    EXPECT_TRUE(close_to_ref(xg.grad(), ref.dx, 1e-5)) << what;
    EXPECT_TRUE(close_to_ref(gammag.grad(), ref.dgamma, 2e-5)) << what;
    EXPECT_TRUE(close_to_ref(betag.grad(), ref.dbeta, 2e-5)) << what;
    if (k.residual) {
      EXPECT_TRUE(close_to_ref(resg.grad(), ref.dresidual, 1e-5)) << what;
    }
  }
}

TEST(CudaParity, BatchNormIsDeterministic) {
  DYBAT_REQUIRE_GPU();
  Shape s{8, 32, 17, 17};
  Tensor x = to_gpu32(rand(s, 1)), g = to_gpu32(rand(s, 2));
  Tensor gamma = to_gpu32(rand({32}, 3, 0.5, 1.5)), beta = to_gpu32(rand({32}, 4));
  std::vector<std::vector<float>> runs;
  for (int r = 0; r < 2; ++r) {
    Tensor xx = x.detach().clone().set_requires_grad(true), gg = gamma.detach().clone().set_requires_grad(true);
    Tensor rm = Tensor::zeros({32}, DType::Float32, Device::cuda(0)),
           rv = Tensor::ones({32}, DType::Float32, Device::cuda(0));
    BatchNormOptions opt{true, true, 0.1, 1e-5, Act::SiLU};
    Tensor out = batch_norm(xx, gg, beta, rm, rv, opt);
    out.backward(g);
    std::vector<float> all = out.to_vector<float>();
    for (const Tensor& t : {xx.grad(), gg.grad(), rv}) {
      auto v = t.to_vector<float>();
      all.insert(all.end(), v.begin(), v.end());
    }
    runs.push_back(all);
  }
  EXPECT_TRUE(runs[0] == runs[1]);
}
