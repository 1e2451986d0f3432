// CUDA softmax cross-entropy against the reference (kernels/reference/loss.h), forward and backward.
#include <cmath>

#include "support/parity_util.h"
#include "kernels/loss.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, CrossEntropy) {
  DYBAT_REQUIRE_GPU();
  // Rows spread over many blocks; class counts below, at and above a warp, and 1000.
  for (Shape s : {Shape{300, 10}, Shape{129, 32}, Shape{37, 33}, Shape{64, 1000}, Shape{1, 1}}) {
    int64_t n = s[0], c = s[1];
    Tensor z = rand(s, 1, -8, 8);
    std::vector<int64_t> lab(n);
    for (int64_t i = 0; i < n; ++i) lab[i] = (i * 7 + 3) % c;
    Tensor y = Tensor::from_vector<int64_t>(lab, {n});
    Tensor g = rand({n}, 2);
    RefLoss ref = ref_cross_entropy(z, y, g);
    Tensor zg = to_gpu32(z, true);
    Tensor lg = cross_entropy(zg, y.to(Device::cuda(0)));
    lg.backward(to_gpu32(g));
    EXPECT_TRUE(close_to_ref(lg, ref.losses, 1e-5)) << shape_str(s);
    EXPECT_TRUE(close_to_ref(zg.grad(), ref.dlogits, 1e-6)) << shape_str(s);
  }
}

TEST(CudaParity, CrossEntropyStableAndBadLabelIsNaN) {
  DYBAT_REQUIRE_GPU();
  Tensor z = Tensor::from_vector<float>({2, 1, 0.1f, 0.5f, 2.5f, -1, 1000, 0, -1000, -3, -3, -3}, {4, 3});
  auto v = cross_entropy(z.to(Device::cuda(0)), Tensor::from_vector<int64_t>({0, 2, 1, 1}, {4}).to(Device::cuda(0)))
               .to_vector<float>();
  EXPECT_NEAR(v[0], 0.41703f, 1e-5);
  EXPECT_NEAR(v[1], 3.6531782f, 1e-5);
  EXPECT_FLOAT_EQ(v[2], 1000.0f);
  EXPECT_NEAR(v[3], 1.0986123f, 1e-6);
  auto bad = cross_entropy(z.to(Device::cuda(0)), Tensor::from_vector<int64_t>({0, 3, -1, 1}, {4}).to(Device::cuda(0)))
                 .to_vector<float>();
  EXPECT_FALSE(std::isnan(bad[0]));
  EXPECT_TRUE(std::isnan(bad[1]));
  EXPECT_TRUE(std::isnan(bad[2]));
  EXPECT_FALSE(std::isnan(bad[3]));
}
