// CUDA dropout against the reference (kernels/reference/dropout.h): identical masks (the same
// Philox stream), forward and backward.
#include "support/parity_util.h"
#include "kernels/dropout.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, DropoutMaskMatchesTheReference) {
  DYBAT_REQUIRE_GPU();
  for (Shape s : {Shape{64, 1280}, Shape{3, 1001}, Shape{1}}) {
    for (double p : {0.2, 0.5}) {
      Tensor x = round32(rand(s, 1, 1, 2)), g = round32(rand(s, 2));
      Generator gg(123);
      Tensor y = ref_dropout(x, p, 123, 0);  // the generator's first stream: offset 0
      Tensor xg = to_gpu32(x, true);
      Tensor yg = dropout(xg, p, true, gg);
      yg.backward(to_gpu32(g));
      EXPECT_TRUE(close_to_ref(yg, y, 1e-6)) << shape_str(s) << " p " << p;
      EXPECT_TRUE(close_to_ref(xg.grad(), ref_dropout(g, p, 123, 0), 1e-6)) << shape_str(s) << " p " << p;
      // Exactly the same elements are dropped.
      auto vc = y.to_vector<double>();
      auto vg = yg.to_vector<float>();
      for (size_t i = 0; i < vc.size(); ++i) ASSERT_EQ(vc[i] == 0.0, vg[i] == 0.0f) << i;
    }
  }
}
