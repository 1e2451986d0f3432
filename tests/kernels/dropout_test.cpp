// Dropout: identity when off, the kernel against the reference (kernels/reference/dropout.h, the
// same Philox mask), mask statistics, scaling, determinism by (seed, offset), gradients.
#include "kernels/dropout.h"

#include <cmath>

#include "core/autograd.h"
#include "kernels/dropout_math.h"
#include "kernels/reference/dropout.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::rand;

TEST(Dropout, IdentityInEvalAndAtZero) {
  Tensor x = rand({4, 5}, 1);
  Generator g(7);
  Tensor e = dropout(x, 0.5, false, g);
  EXPECT_TRUE(e.same_storage(x));
  Tensor z = dropout(x, 0.0, true, g);
  EXPECT_TRUE(z.same_storage(x));
  EXPECT_EQ(g.offset, 0u);  // nothing drawn
}

TEST(Dropout, FractionKeptAndScale) {
  const int64_t n = 200000;
  Tensor x = Tensor::ones({n});
  for (double p : {0.1, 0.3, 0.5, 0.9}) {
    Generator g(42);
    auto v = dropout(x, p, true, g).to_vector<float>();
    int64_t kept = 0;
    float scale = static_cast<float>(1.0 / (1.0 - p));
    for (float y : v) {
      ASSERT_TRUE(y == 0.0f || y == scale) << y;
      kept += y != 0.0f;
    }
    double frac = static_cast<double>(kept) / n;
    double sigma = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(frac, 1.0 - p, 5 * sigma) << "p " << p;
  }
}

TEST(Dropout, MaskIsAFunctionOfSeedOffsetAndIndex) {
  Tensor x = rand({1000}, 2, 1, 2);  // no zeros in x
  Generator g1(5), g2(5), g3(6);
  Tensor a = dropout(x, 0.5, true, g1), b = dropout(x, 0.5, true, g2), c = dropout(x, 0.5, true, g3);
  Tensor d = dropout(x, 0.5, true, g1);  // the next offset of g1
  EXPECT_EQ(g1.offset, 2u);
  auto va = a.to_vector<double>(), vb = b.to_vector<double>(), vc = c.to_vector<double>(), vd = d.to_vector<double>();
  EXPECT_EQ(va, vb);
  int diff_c = 0, diff_d = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    diff_c += (va[i] == 0) != (vc[i] == 0);
    diff_d += (va[i] == 0) != (vd[i] == 0);
    // Element i is dropped exactly when its stream value is below p.
    EXPECT_EQ(va[i] == 0, !dropout_keep(5, 0, i, 0.5));
  }
  EXPECT_GT(diff_c, 300);
  EXPECT_GT(diff_d, 300);
  // The mask does not depend on the dtype or the shape.
  Generator g4(5);
  auto vf = dropout(x.to(DType::Float32).view({10, 100}), 0.5, true, g4).to_vector<float>();
  for (size_t i = 0; i < va.size(); ++i) EXPECT_EQ(vf[i] == 0.0f, va[i] == 0.0) << i;
}

TEST(Dropout, Gradcheck) {
  Tensor x = rand({6, 7}, 3, -1, 1, true);
  for (double p : {0.2, 0.7}) {
    // A fresh generator per call: every evaluation of the function sees the same mask.
    EXPECT_GRADCHECK(
        [p](const std::vector<Tensor>& in) {
          Generator g(11);
          return dropout(in[0], p, true, g);
        },
        {x});
  }
}

TEST(Dropout, BackwardUsesTheForwardMask) {
  Tensor x = rand({5000}, 4, 1, 2, true);
  Generator g(9);
  Tensor y = dropout(x, 0.25, true, g);
  Tensor dout = rand({5000}, 5, 1, 2);
  y.backward(dout);
  auto vy = y.to_vector<double>(), vx = x.to_vector<double>(), vg = x.grad().to_vector<double>(),
       vd = dout.to_vector<double>();
  for (size_t i = 0; i < vy.size(); ++i) {
    if (vy[i] == 0) {
      ASSERT_EQ(vg[i], 0.0);
    } else {
      ASSERT_DOUBLE_EQ(vy[i], vx[i] / 0.75);
      ASSERT_DOUBLE_EQ(vg[i], vd[i] / 0.75);
    }
  }
}

TEST(Dropout, PEqualsOneZeroesEverything) {
  Tensor x = rand({100}, 6, 1, 2, true);
  Generator g(1);
  Tensor y = dropout(x, 1.0, true, g);
  EXPECT_EQ(dybat::test::max_abs(y), 0.0);
  y.backward(Tensor::ones({100}, DType::Float64));
  EXPECT_EQ(dybat::test::max_abs(x.grad()), 0.0);
}

TEST(Dropout, BadProbability) {
  Generator g(1);
  EXPECT_THROW(dropout(Tensor::ones({3}), -0.1, true, g), Error);
  EXPECT_THROW(dropout(Tensor::ones({3}), 1.5, true, g), Error);
}

TEST(Dropout, KernelAndBackwardMatchTheReference) {
  // Large enough for the parallel loop; the mask and the values in float64, and the gradient
  // through autograd (the reference's backward regenerates the mask from (seed, offset)).
  const int64_t n = 20000;
  Tensor x = rand({n}, 7, 1, 2), dout = rand({n}, 8);
  for (double p : {0.1, 0.5, 0.9, 1.0}) {
    Tensor out = Tensor::empty({n}, DType::Float64);
    dropout_apply(x, p, 21, 4, out);
    EXPECT_EQ(out.to_vector<double>(), test::ref_dropout(x, p, 21, 4).to_vector<double>()) << "p " << p;
    Generator g(21);
    g.offset = 4;
    Tensor xg = x.clone().set_requires_grad(true);
    dropout(xg, p, true, g).backward(dout);
    std::vector<double> want(static_cast<size_t>(n), 0.0), dv = dout.to_vector<double>();
    ref::dropout_backward(n, p, 21, 4, dv.data(), want.data());
    EXPECT_EQ(xg.grad().to_vector<double>(), want) << "p " << p;
  }
}
