// SGD: hand-computed sequences for plain, momentum, weight decay and Nesterov updates, and the
// multi-tensor kernel against the reference (kernels/reference/sgd.h) with every option.
#include "kernels/sgd.h"

#include "kernels/reference/sgd.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {
// Runs `steps` updates of a 1-element parameter (start p0) with gradients gs[k], in double.
std::vector<double> run(double p0, const std::vector<double>& gs, const SgdOptions& opt) {
  Tensor p = Tensor::from_vector<double>({p0}, {1}), b = Tensor::zeros({1}, DType::Float64);
  std::vector<double> out;
  for (double g : gs) {
    sgd_update({p}, {Tensor::from_vector<double>({g}, {1})}, {b}, opt);
    out.push_back(p.item());
  }
  return out;
}
}  // namespace

TEST(Sgd, PlainStep) {
  SgdOptions opt{0.1, 0.0, 0.0, false};
  auto v = run(1.0, {0.5, -2.0}, opt);
  EXPECT_DOUBLE_EQ(v[0], 1.0 - 0.1 * 0.5);
  EXPECT_DOUBLE_EQ(v[1], 1.0 - 0.1 * 0.5 + 0.1 * 2.0);
  // With momentum 0 no buffers are needed.
  Tensor p = Tensor::from_vector<double>({1.0}, {1});
  sgd_update({p}, {Tensor::from_vector<double>({0.5}, {1})}, {}, opt);
  EXPECT_DOUBLE_EQ(p.item(), 0.95);
}

TEST(Sgd, MomentumFirstStepTakesTheGradient) {
  // b1 = g1 (not 0.9 * 0 + 0.1 g1 or similar); b2 = 0.9 b1 + g2; b3 = 0.9 b2 + g3.
  SgdOptions opt{0.1, 0.9, 0.0, false};
  auto v = run(1.0, {1.0, 2.0, -1.0}, opt);
  double b1 = 1.0, b2 = 0.9 * b1 + 2.0, b3 = 0.9 * b2 - 1.0;
  EXPECT_DOUBLE_EQ(v[0], 1.0 - 0.1 * b1);
  EXPECT_DOUBLE_EQ(v[1], 1.0 - 0.1 * b1 - 0.1 * b2);
  EXPECT_DOUBLE_EQ(v[2], 1.0 - 0.1 * b1 - 0.1 * b2 - 0.1 * b3);
}

TEST(Sgd, WeightDecayJoinsTheGradientBeforeMomentum) {
  SgdOptions opt{0.1, 0.9, 0.01, false};
  auto v = run(2.0, {1.0, 1.0}, opt);
  double p = 2.0, b = 0.0;
  std::vector<double> want;
  for (int k = 0; k < 2; ++k) {
    double g = 1.0 + 0.01 * p;
    b = k == 0 ? g : 0.9 * b + g;
    p -= 0.1 * b;
    want.push_back(p);
  }
  EXPECT_DOUBLE_EQ(v[0], want[0]);
  EXPECT_DOUBLE_EQ(v[1], want[1]);
  EXPECT_DOUBLE_EQ(v[0], 2.0 - 0.1 * 1.02);
}

TEST(Sgd, Nesterov) {
  SgdOptions opt{0.1, 0.9, 0.01, true};
  auto v = run(2.0, {1.0, -3.0, 0.5}, opt);
  double p = 2.0, b = 0.0;
  for (int k = 0; k < 3; ++k) {
    double g = std::vector<double>{1.0, -3.0, 0.5}[k] + 0.01 * p;
    b = k == 0 ? g : 0.9 * b + g;
    p -= 0.1 * (g + 0.9 * b);
    EXPECT_DOUBLE_EQ(v[k], p) << "step " << k;
  }
  // First step by hand: g = 1.02, b = 1.02, update g + 0.9 b = 1.938.
  EXPECT_DOUBLE_EQ(v[0], 2.0 - 0.1 * (1.02 + 0.9 * 1.02));
}

TEST(Sgd, ManyTensorsSkipsThoseWithoutGradient) {
  SgdOptions opt{0.05, 0.9, 1e-4, false};
  Tensor p1 = rand({70000}, 1), p2 = rand({3, 5}, 2), p3 = rand({4}, 3);  // p1 takes the parallel path
  Tensor g1 = rand({70000}, 4), g3 = rand({4}, 5);
  Tensor b1 = Tensor::zeros({70000}, DType::Float64), b2 = Tensor::zeros({3, 5}, DType::Float64),
         b3 = Tensor::zeros({4}, DType::Float64);
  Tensor p1_0 = p1.clone(), p2_0 = p2.clone(), p3_0 = p3.clone();
  sgd_update({p1, p2, p3}, {g1, Tensor(), g3}, {b1, b2, b3}, opt);
  EXPECT_EQ(max_abs_diff(p2, p2_0), 0.0);
  EXPECT_EQ(dybat::test::max_abs(b2), 0.0);
  auto check = [&](const Tensor& p, const Tensor& p0, const Tensor& g, const Tensor& b) {
    auto vp = p.to_vector<double>(), v0 = p0.to_vector<double>(), vg = g.to_vector<double>(),
         vb = b.to_vector<double>();
    for (size_t i = 0; i < vp.size(); ++i) {
      double gg = vg[i] + 1e-4 * v0[i];
      ASSERT_DOUBLE_EQ(vb[i], gg);
      ASSERT_DOUBLE_EQ(vp[i], v0[i] - 0.05 * gg);
    }
  };
  check(p1, p1_0, g1, b1);
  check(p3, p3_0, g3, b3);
}

TEST(Sgd, Float32FollowsTheSameSequence) {
  SgdOptions opt{0.1, 0.9, 0.01, true};
  Tensor p = Tensor::from_vector<float>({2.0f}, {1}), b = Tensor::zeros({1});
  float pp = 2.0f, bb = 0.0f;
  for (float g : {1.0f, -3.0f, 0.5f}) {
    sgd_update({p}, {Tensor::from_vector<float>({g}, {1})}, {b}, opt);
    float gg = g + 0.01f * pp;
    bb = 0.9f * bb + gg;
    pp = pp + (-0.1f) * (gg + 0.9f * bb);
    EXPECT_NEAR(p.item(), pp, 1e-6);
  }
}

TEST(Sgd, Errors) {
  SgdOptions opt;
  Tensor p = Tensor::zeros({3});
  EXPECT_THROW(sgd_update({p}, {Tensor::zeros({4})}, {Tensor::zeros({3})}, opt), Error);
  EXPECT_THROW(sgd_update({p}, {Tensor::zeros({3})}, {Tensor()}, opt), Error);
  EXPECT_THROW(sgd_update({p}, {Tensor::zeros({3}, DType::Float64)}, {Tensor::zeros({3})}, opt), Error);
  EXPECT_THROW(
      sgd_update({p, Tensor::zeros({2}, DType::Float64)}, {Tensor(), Tensor()}, {Tensor::zeros({3}), Tensor()}, opt),
      Error);
  EXPECT_THROW(sgd_update({p}, {Tensor::zeros({3})}, {}, opt), Error);
}

TEST(Sgd, MatchesTheReference) {
  // Four steps of three tensors (one large enough for the parallel loop) with every option;
  // float64 follows the reference bit for bit (the same operations in the same order).
  for (SgdOptions opt : {SgdOptions{0.1, 0.0, 0.0, false}, SgdOptions{0.05, 0.9, 0.0, false},
                         SgdOptions{0.05, 0.9, 1e-3, false}, SgdOptions{0.02, 0.8, 1e-2, true}}) {
    const std::vector<Shape> shapes{{70000}, {3, 5}, {1}};
    std::vector<Tensor> ps, bs;
    std::vector<std::vector<double>> ref_p, ref_b;
    for (size_t i = 0; i < shapes.size(); ++i) {
      ps.push_back(rand(shapes[i], 40 + i));
      bs.push_back(Tensor::zeros(shapes[i], DType::Float64));
      ref_p.push_back(ps.back().to_vector<double>());
      ref_b.push_back(std::vector<double>(ref_p.back().size(), 0.0));
    }
    const ref::SgdSettings settings{opt.lr, opt.momentum, opt.weight_decay, opt.nesterov};
    for (int step = 0; step < 4; ++step) {
      std::vector<Tensor> gs;
      for (size_t i = 0; i < shapes.size(); ++i) {
        gs.push_back(rand(shapes[i], 100 * step + i));
        const std::vector<double> g = gs.back().to_vector<double>();
        ref::sgd_step(settings, static_cast<int64_t>(g.size()), ref_p[i].data(), g.data(), ref_b[i].data(), step == 0);
      }
      sgd_update(ps, gs, bs, opt);
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_EQ(ps[i].to_vector<double>(), ref_p[i]) << "tensor " << i << " lr " << opt.lr;
      if (opt.momentum != 0.0) {
        EXPECT_EQ(bs[i].to_vector<double>(), ref_b[i]) << "tensor " << i;
      }
    }
  }
}
