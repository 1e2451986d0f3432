// Matrix products: gemm in every transpose combination, matmul and linear values, gradient checks,
// and the accumulate-versus-assign rules of linear's gradients.
#include "kernels/matmul.h"

#include "core/allocator.h"
#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {
// C = alpha op(A) op(B) + beta C by plain loops in double (the reference).
Tensor naive_gemm(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  int64_t m = c.size(0), n = c.size(1), k = ta ? a.size(0) : a.size(1);
  auto va = a.to_vector<double>(), vb = b.to_vector<double>(), vc = c.to_vector<double>();
  int64_t lda = a.size(1), ldb = b.size(1);
  std::vector<double> out(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += (ta ? va[p * lda + i] : va[i * lda + p]) * (tb ? vb[j * ldb + p] : vb[p * ldb + j]);
      out[i * n + j] = alpha * s + beta * vc[i * n + j];
    }
  return Tensor::from_vector<double>(out, {m, n});
}
}  // namespace

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
        Tensor want = naive_gemm(ta, tb, 1.5, a, b, 0.5, c);
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
  EXPECT_LT(max_abs_diff(c, naive_gemm(false, false, 1.0, a, b, 0.0, Tensor::zeros({4, 6}, DType::Float64))), 1e-14);
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
  Tensor want = naive_gemm(false, false, 1, a.contiguous(), b, 0, Tensor::zeros({3, 2}, DType::Float64));
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
  auto vx = x.to_vector<double>();
  std::vector<double> want = out.to_vector<double>();
  for (int64_t r = 0; r < 200; ++r)
    for (int64_t j = 0; j < 600; ++j) want[j] += vx[r * 600 + j];
  sum_rows_accumulate(x, out);
  EXPECT_LT(max_abs_diff(out, Tensor::from_vector<double>(want, {600})), 1e-12);
}
