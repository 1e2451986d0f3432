// Matrix products: gemm in every transpose combination, matmul and linear (forward and every
// gradient) against the reference (kernels/reference/matmul.h), values, gradient checks, and the
// accumulate-versus-assign rules of linear's gradients.
#include "kernels/matmul.h"

#include "core/allocator.h"
#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;
using dybat::test::ref_gemm;


TEST(Matmul, Values) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({7, 8, 9, 10, 11, 12}, {3, 2});
  EXPECT_EQ(matmul(a, b).to_vector<float>(), (std::vector<float>{58, 64, 139, 154}));
  EXPECT_EQ(matmul(a.to(DType::Float64), b.to(DType::Float64)).to_vector<double>(),
            (std::vector<double>{58, 64, 139, 154}));
}

TEST(Matmul, GemmAllTransposesAlphaBeta) {
  const int64_t m = 5, n = 7, k = 3;
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        Tensor a = rand(ta ? Shape{k, m} : Shape{m, k}, 1, -1, 1, false, dt);
        Tensor b = rand(tb ? Shape{n, k} : Shape{k, n}, 2, -1, 1, false, dt);
        Tensor c = rand({m, n}, 3, -1, 1, false, dt);
        Tensor want = ref_gemm(ta, tb, 1.5, a, b, 0.5, c);
        gemm(ta, tb, 1.5, a, b, 0.5, c);
        EXPECT_LT(max_abs_diff(c, want), dt == DType::Float32 ? 1e-5 : 1e-13) << "ta " << ta << " tb " << tb;
      }
  }
}

TEST(Matmul, GemmBetaZeroIgnoresJunkInC) {
  set_junk_fill(true);
  Tensor c = Tensor::empty({4, 6}, DType::Float64);  // NaN bytes
  set_junk_fill(false);
  Tensor a = rand({4, 3}, 4), b = rand({3, 6}, 5);
  gemm(false, false, 1.0, a, b, 0.0, c);
  EXPECT_LT(max_abs_diff(c, ref_gemm(false, false, 1.0, a, b, 0.0, Tensor::zeros({4, 6}, DType::Float64))), 1e-14);
}

TEST(Matmul, EmptyInnerDimension) {
  Tensor a = Tensor::zeros({3, 0}, DType::Float64), b = Tensor::zeros({0, 2}, DType::Float64);
  Tensor c = Tensor::full({3, 2}, 4.0, DType::Float64);
  gemm(false, false, 1.0, a, b, 0.5, c);
  EXPECT_EQ(c.to_vector<double>(), std::vector<double>(6, 2.0));
  EXPECT_EQ(matmul(a, b).to_vector<double>(), std::vector<double>(6, 0.0));
}

TEST(Matmul, ShapeErrors) {
  EXPECT_THROW(matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3})), Error);
  EXPECT_THROW(matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}, DType::Float64)), Error);
  EXPECT_THROW(linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 2}), Tensor()), Error);
  EXPECT_THROW(linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 3}), Tensor::zeros({3})), Error);
  Tensor c = Tensor::zeros({2, 2});
  EXPECT_THROW(gemm(false, false, 1, Tensor::zeros({2, 3}), Tensor::zeros({3, 3}), 0, c), Error);
}

TEST(Matmul, NonContiguousInputs) {
  Tensor a = rand({4, 3}, 6).permute({1, 0});  // [3, 4] view
  Tensor b = rand({4, 2}, 7);
  Tensor want = ref_gemm(false, false, 1, a.contiguous(), b, 0, Tensor::zeros({3, 2}, DType::Float64));
  EXPECT_LT(max_abs_diff(matmul(a, b), want), 1e-14);
}

TEST(Matmul, MatmulGradcheck) {
  Tensor a = rand({3, 4}, 8, -1, 1, true), b = rand({4, 5}, 9, -1, 1, true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b});
  // A non-leaf operand, and a product with itself transposed.
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return matmul(matmul(in[0], in[1]), in[1].permute({1, 0}));
      },
      {a, b});
}

TEST(Linear, Values) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor w = Tensor::from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  Tensor b = Tensor::from_vector<float>({10, 20, 30}, {3});
  EXPECT_EQ(linear(x, w, b).to_vector<float>(), (std::vector<float>{11, 22, 33, 13, 24, 37}));
  EXPECT_EQ(linear(x, w, Tensor()).to_vector<float>(), (std::vector<float>{1, 2, 3, 3, 4, 7}));
}

TEST(Linear, Gradcheck) {
  Tensor x = rand({5, 4}, 10, -1, 1, true), w = rand({3, 4}, 11, -1, 1, true), b = rand({3}, 12, -1, 1, true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }, {x, w, b});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); }, {x, w});
  // Batch of one, and the weight used twice (two nodes accumulating into one leaf).
  Tensor x1 = rand({1, 4}, 13, -1, 1, true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }, {x1, w, b});
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor h = linear(in[0], in[1], in[2]);
        return linear(h, in[1].permute({1, 0}), Tensor());
      },
      {x, w, b});
}

TEST(Linear, NonLeafWeightGetsItsGradient) {
  // The weight comes out of another op: grad_target hands a fresh buffer that must flow onward.
  Tensor x = rand({3, 4}, 14, -1, 1, true), w = rand({4, 2}, 15, -1, 1, true), b = rand({2}, 16, -1, 1, true);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return linear(in[0], in[1].permute({1, 0}) * 2.0, in[2] * 3.0);
      },
      {x, w, b});
}

TEST(Linear, ParameterGradientsAccumulateInputGradientIsAssigned) {
  Tensor x = rand({4, 3}, 17), w = rand({2, 3}, 18, -1, 1, true), b = rand({2}, 19, -1, 1, true);
  sum(linear(x, w, b)).backward();
  Tensor gw1 = w.grad().clone(), gb1 = b.grad().clone();
  EXPECT_FALSE(x.grad().defined());  // x did not ask for a gradient
  EXPECT_EQ(gb1.to_vector<double>(), (std::vector<double>{4, 4}));
  sum(linear(x, w, b)).backward();
  EXPECT_LT(max_abs_diff(w.grad(), gw1 * 2.0), 1e-14);
  EXPECT_LT(max_abs_diff(b.grad(), gb1 * 2.0), 1e-14);
}

TEST(Linear, Float32MatchesFloat64) {
  Tensor x = rand({33, 70}, 20), w = rand({300, 70}, 21), b = rand({300}, 22);
  Tensor xf = x.to(DType::Float32).set_requires_grad(true), wf = w.to(DType::Float32).set_requires_grad(true),
         bf = b.to(DType::Float32).set_requires_grad(true);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor g = rand({33, 300}, 23);
  linear(x, w, b).backward(g);
  Tensor yf = linear(xf, wf, bf);
  yf.backward(g.to(DType::Float32));
  EXPECT_LT(max_abs_diff(yf, linear(x, w, b)), 1e-5);
  EXPECT_LT(max_abs_diff(xf.grad(), x.grad()), 1e-4);
  EXPECT_LT(max_abs_diff(wf.grad(), w.grad()), 1e-4);
  EXPECT_LT(max_abs_diff(bf.grad(), b.grad()), 1e-4);
}

TEST(Linear, SumRowsAccumulateManyColumns) {
  // More than one column block and enough elements for the parallel path.
  Tensor x = rand({200, 600}, 24), out = rand({600}, 25);
  Tensor want = add(out, test::ref_sum(x, {0}).view({600}));
  sum_rows_accumulate(x, out);
  EXPECT_LT(max_abs_diff(out, want), 1e-12);
}

TEST(Linear, MatchesTheReference) {
  // Forward and every gradient, through autograd, in float64 and float32; shapes past the GEMM
  // splits, odd, and batch 1.
  for (Shape dims : {Shape{33, 70, 300}, Shape{5, 3, 7}, Shape{1, 4, 2}})
    for (DType dt : {DType::Float64, DType::Float32}) {
      const int64_t n = dims[0], in = dims[1], out = dims[2];
      Tensor x = rand({n, in}, 30, -1, 1, false, dt), w = rand({out, in}, 31, -1, 1, false, dt);
      Tensor b = rand({out}, 32, -1, 1, false, dt), g = rand({n, out}, 33, -1, 1, false, dt);
      test::RefLinear ref = test::ref_linear(x, w, b, g);
      x.set_requires_grad(true), w.set_requires_grad(true), b.set_requires_grad(true);
      Tensor y = linear(x, w, b);
      y.backward(g);
      const double tol = dt == DType::Float64 ? 1e-13 : 1e-4;
      EXPECT_LT(max_abs_diff(y, ref.out), tol) << shape_str(dims);
      EXPECT_LT(max_abs_diff(x.grad(), ref.dx), tol) << shape_str(dims);
      EXPECT_LT(max_abs_diff(w.grad(), ref.dw), tol) << shape_str(dims);
      EXPECT_LT(max_abs_diff(b.grad(), ref.db), tol) << shape_str(dims);
    }
}

TEST(Matmul, MatchesTheReference) {
  Tensor a = rand({17, 9}, 34), b = rand({9, 23}, 35), g = rand({17, 23}, 36);
  test::RefLinear ref = test::ref_matmul(a, b, g);
  a.set_requires_grad(true), b.set_requires_grad(true);
  Tensor y = matmul(a, b);
  y.backward(g);
  EXPECT_LT(max_abs_diff(y, ref.out), 1e-14);
  EXPECT_LT(max_abs_diff(a.grad(), ref.dx), 1e-14);
  EXPECT_LT(max_abs_diff(b.grad(), ref.dw), 1e-14);
}
