// CUDA matmul/linear (cuBLAS, TF32 off) against the reference (kernels/reference/matmul.h),
// forward and backward.
#include "core/settings.h"
#include "support/parity_util.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"

using namespace dybat;
using namespace dybat::test;

namespace {
struct Tf32Off {
  bool prev = backend_settings().tf32_matmul;
  Tf32Off() { backend_settings().tf32_matmul = false; }
  ~Tf32Off() { backend_settings().tf32_matmul = prev; }
};
}  // namespace

TEST(CudaParity, GemmTransposes) {
  DYBAT_REQUIRE_GPU();
  Tf32Off off;
  const int64_t m = 67, n = 131, k = 45;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Tensor a = rand(ta ? Shape{k, m} : Shape{m, k}, 1), b = rand(tb ? Shape{n, k} : Shape{k, n}, 2);
      Tensor c = rand({m, n}, 3);
      Tensor cg = to_gpu32(c);
      gemm(ta, tb, 0.75, to_gpu32(a), to_gpu32(b), -0.5, cg);
      c = ref_gemm(ta, tb, 0.75, a, b, -0.5, c);
      EXPECT_TRUE(close_to_ref(cg, c, 1e-5)) << "ta " << ta << " tb " << tb;
      // float64 on the GPU is exact to rounding.
      Tensor cd = rand({m, n}, 3).to(Device::cuda(0));
      gemm(ta, tb, 0.75, a.to(Device::cuda(0)), b.to(Device::cuda(0)), -0.5, cd);
      EXPECT_TRUE(close_to_ref(cd, c, 1e-12));
    }
}

TEST(CudaParity, LinearForwardBackward) {
  DYBAT_REQUIRE_GPU();
  Tf32Off off;
  for (Shape dims : {Shape{128, 512, 1000}, Shape{37, 257, 11}, Shape{1, 3, 2}}) {
    int64_t n = dims[0], in = dims[1], out = dims[2];
    Tensor x = rand({n, in}, 4), w = rand({out, in}, 5, -0.1, 0.1), b = rand({out}, 6);
    Tensor g = rand({n, out}, 7);
    RefLinear ref = ref_linear(x, w, b, g);
    Tensor xg = to_gpu32(x, true), wg = to_gpu32(w, true), bg = to_gpu32(b, true);
    Tensor yg = linear(xg, wg, bg);
    yg.backward(to_gpu32(g));
    EXPECT_TRUE(close_to_ref(yg, ref.out, 1e-5)) << shape_str(dims);
    EXPECT_TRUE(close_to_ref(xg.grad(), ref.dx, 1e-5)) << shape_str(dims);
    EXPECT_TRUE(close_to_ref(wg.grad(), ref.dw, 1e-5)) << shape_str(dims);
    EXPECT_TRUE(close_to_ref(bg.grad(), ref.db, 1e-5)) << shape_str(dims);
    // A second backward accumulates into the GPU gradients: twice the reference's.
    linear(xg, wg, bg).backward(to_gpu32(g));
    EXPECT_TRUE(close_to_ref(wg.grad(), ref.dw * 2.0, 1e-5)) << shape_str(dims);
    EXPECT_TRUE(close_to_ref(bg.grad(), ref.db * 2.0, 1e-5)) << shape_str(dims);
  }
}

TEST(CudaParity, MatmulBackward) {
  DYBAT_REQUIRE_GPU();
  Tf32Off off;
  Tensor a = rand({300, 70}, 8), b = rand({70, 45}, 9), g = rand({300, 45}, 10);
  RefLinear ref = ref_matmul(a, b, g);
  Tensor ag = to_gpu32(a, true), bg = to_gpu32(b, true);
  Tensor y = matmul(ag, bg);
  y.backward(to_gpu32(g));
  EXPECT_TRUE(close_to_ref(y, ref.out, 1e-5));
  EXPECT_TRUE(close_to_ref(ag.grad(), ref.dx, 1e-5));
  EXPECT_TRUE(close_to_ref(bg.grad(), ref.dw, 1e-5));
}

TEST(CudaParity, SumRowsAccumulate) {
  DYBAT_REQUIRE_GPU();
  for (Shape s : {Shape{1000, 33}, Shape{3, 1000}, Shape{1, 1}}) {
    Tensor x = rand(s, 11), out = rand({s[1]}, 12);
    Tensor og = to_gpu32(out);
    sum_rows_accumulate(to_gpu32(x), og);
    EXPECT_TRUE(close_to_ref(og, out + ref_sum(x, {0}).view({s[1]}), 1e-5)) << shape_str(s);
  }
}
