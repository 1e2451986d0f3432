// Fused batch norm on the CPU: values, running statistics and every gradient against the reference
// (kernels/reference/batchnorm.h composed with the activation) in the three modes and on every
// code path, hand computations, gradient checks of every input with each activation, and the
// n = 1 error.
#include "kernels/batchnorm.h"

#include <cmath>

#include "core/autograd.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;
using dybat::test::ref_batch_norm;
using dybat::test::RefBatchNorm;

namespace {

BatchNormOptions train_opts(Act act = Act::None) { return {true, true, 0.1, 1e-5, act}; }
BatchNormOptions batch_stats_opts(Act act = Act::None) { return {true, false, 0.1, 1e-5, act}; }
BatchNormOptions eval_opts(Act act = Act::None) { return {false, false, 0.1, 1e-5, act}; }

}  // namespace

TEST(BatchNorm, TrainingValuesAndRunningStatsAfterOneForward) {
  Tensor x = rand({3, 4, 5, 2}, 1, -2, 3);
  Tensor gamma = rand({4}, 2, 0.5, 1.5), beta = rand({4}, 3), res = rand({3, 4, 5, 2}, 4);
  Tensor rm = rand({4}, 5), rv = rand({4}, 6, 0.5, 2.0);
  RefBatchNorm ref = ref_batch_norm(x, gamma, beta, rm, rv, train_opts(Act::SiLU), res);
  Tensor out = batch_norm(x, gamma, beta, rm, rv, train_opts(Act::SiLU), res);
  EXPECT_LT(max_abs_diff(out, ref.out), 1e-14);
  // running = 0.9 running + 0.1 batch, the variance unbiased (n = 30 values per channel).
  EXPECT_LT(max_abs_diff(rm, ref.running_mean), 1e-15);
  EXPECT_LT(max_abs_diff(rv, ref.running_var), 1e-15);
}

TEST(BatchNorm, RunningStatsOfAKnownBatch) {
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3); channel 1 holds 0, 0, 0, 4.
  Tensor x = Tensor::from_vector<float>({1, 2, 0, 0, 3, 4, 0, 4}, {2, 2, 2, 1});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  Tensor out = batch_norm(x, Tensor::ones({2}), Tensor::zeros({2}), rm, rv, train_opts());
  auto m = rm.to_vector<float>(), v = rv.to_vector<float>();
  EXPECT_FLOAT_EQ(m[0], 0.25f);
  EXPECT_FLOAT_EQ(m[1], 0.1f);
  EXPECT_FLOAT_EQ(v[0], 0.9f + 0.1f * 5.0f / 3.0f);
  EXPECT_FLOAT_EQ(v[1], 0.9f + 0.1f * 4.0f);  // deviations -1, -1, -1, 3: sum of squares 12, / 3
  auto o = out.to_vector<float>();
  EXPECT_NEAR(o[0], (1 - 2.5) / std::sqrt(1.25 + 1e-5), 1e-6);
  EXPECT_NEAR(o[7], 3 / std::sqrt(3.0 + 1e-5), 1e-6);
}

TEST(BatchNorm, BatchStatsWithoutUpdateLeavesRunningStats) {
  Tensor x = rand({2, 3, 4, 4}, 7), gamma = rand({3}, 8, 0.5, 1.5), beta = rand({3}, 9);
  Tensor rm = rand({3}, 10), rv = rand({3}, 11, 0.5, 2);
  Tensor rm0 = rm.clone(), rv0 = rv.clone();
  Tensor out = batch_norm(x, gamma, beta, rm, rv, batch_stats_opts());
  EXPECT_EQ(max_abs_diff(rm, rm0), 0.0);
  EXPECT_EQ(max_abs_diff(rv, rv0), 0.0);
  EXPECT_LT(max_abs_diff(out, ref_batch_norm(x, gamma, beta, rm, rv, batch_stats_opts()).out), 1e-14);
  // Running statistics are not even needed in this mode.
  EXPECT_EQ(max_abs_diff(batch_norm(x, gamma, beta, Tensor(), Tensor(), batch_stats_opts()), out), 0.0);
}

TEST(BatchNorm, EvalUsesRunningStats) {
  Tensor x = rand({2, 3, 2, 2}, 12), gamma = rand({3}, 13, 0.5, 1.5), beta = rand({3}, 14);
  Tensor rm = rand({3}, 15), rv = rand({3}, 16, 0.5, 2), res = rand({2, 3, 2, 2}, 17);
  Tensor rm0 = rm.clone();
  Tensor out = batch_norm(x, gamma, beta, rm, rv, eval_opts(Act::HardSwish), res);
  EXPECT_LT(max_abs_diff(out, ref_batch_norm(x, gamma, beta, rm, rv, eval_opts(Act::HardSwish), res).out), 1e-14);
  EXPECT_EQ(max_abs_diff(rm, rm0), 0.0);
  // One sample is fine with running statistics.
  EXPECT_NO_THROW(batch_norm(rand({1, 3, 1, 1}, 18), gamma, beta, rm, rv, eval_opts()));
}

namespace {

// Forward, running statistics and every gradient of one call against the reference, in `dt`
// (the reference runs on the same values in double).
void expect_matches_reference(const Shape& shape, int mode, Act act, bool with_residual, DType dt, double tol,
                              uint64_t seed) {
  const int64_t c = shape[1];
  const BatchNormOptions opt = mode == 0 ? train_opts(act) : mode == 1 ? batch_stats_opts(act) : eval_opts(act);
  Tensor x = rand(shape, seed, -2, 3, false, dt), res = with_residual ? rand(shape, seed + 1, -1, 1, false, dt) : Tensor();
  Tensor gamma = rand({c}, seed + 2, 0.5, 1.5, false, dt), beta = rand({c}, seed + 3, -1, 1, false, dt);
  Tensor rm = rand({c}, seed + 4, -0.3, 0.3, false, dt), rv = rand({c}, seed + 5, 0.5, 2, false, dt);
  Tensor g = rand(shape, seed + 6, -1, 1, false, dt);
  RefBatchNorm ref = ref_batch_norm(x, gamma, beta, rm, rv, opt, res, g);
  for (Tensor* t : {&x, &gamma, &beta, &res})
    if (t->defined()) t->set_requires_grad(true);
  Tensor out = batch_norm(x, gamma, beta, rm, rv, opt, res);
  out.backward(g);
  const std::string what = shape_str(shape) + " mode " + std::to_string(mode) + " " + act_name(act);
  auto close = [&](const Tensor& got, const Tensor& want, const char* name) {
    EXPECT_LE(max_abs_diff(got, want), tol * (1.0 + dybat::test::max_abs(want))) << name << " " << what;
  };
  close(out, ref.out, "out");
  close(rm, ref.running_mean, "running_mean");
  close(rv, ref.running_var, "running_var");
  close(x.grad(), ref.dx, "dx");
  close(gamma.grad(), ref.dgamma, "dgamma");
  close(beta.grad(), ref.dbeta, "dbeta");
  if (with_residual) close(res.grad(), ref.dresidual, "dresidual");
}

}  // namespace

TEST(BatchNorm, EveryPathMatchesTheReference) {
  // Planes above 16 values (per-plane loops; in parallel over channels, and over slices of the
  // batch when there are few channels), of at most 16 values (the row loops, serial and in
  // parallel blocks of channels), 1x1 and [N, C]; float32 on the smooth activations only (near a
  // kink float32 and double may take different sides).
  const std::vector<Shape> shapes{{3, 4, 4, 5}, {8, 16, 20, 20}, {8, 3, 40, 40}, {5, 7, 3, 3},
                                  {8, 300, 4, 4}, {3, 5, 1, 1}, {37, 129}};
  uint64_t seed = 40;
  for (const Shape& s : shapes)
    for (int mode : {0, 1, 2})
      for (Act act : {Act::None, Act::ReLU, Act::SiLU, Act::HardSwish}) {
        expect_matches_reference(s, mode, act, act != Act::SiLU, DType::Float64, 1e-12, seed += 10);
        if (act == Act::None || act == Act::SiLU)
          expect_matches_reference(s, mode, act, act == Act::None, DType::Float32, 2e-5, seed += 10);
      }
}

TEST(BatchNorm, OneValuePerChannelInTrainingIsAnError) {
  Tensor g = Tensor::ones({3}), b = Tensor::zeros({3}), rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  for (Shape s : {Shape{1, 3, 1, 1}, Shape{1, 3}}) {
    EXPECT_THROW(batch_norm(Tensor::ones(s), g, b, rm, rv, train_opts()), Error) << shape_str(s);
    EXPECT_THROW(batch_norm(Tensor::ones(s), g, b, rm, rv, batch_stats_opts()), Error) << shape_str(s);
  }
  try {
    batch_norm(Tensor::ones({1, 3, 1, 1}), g, b, rm, rv, train_opts());
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("more than 1 value per channel"), std::string::npos) << e.message();
  }
  // n = 1 with a batch of 1 but spatial size > 1 is fine.
  EXPECT_NO_THROW(batch_norm(rand({1, 3, 2, 1}, 19).to(DType::Float32), g, b, rm, rv, train_opts()));
}

TEST(BatchNorm, BadArguments) {
  Tensor g = Tensor::ones({3}), b = Tensor::zeros({3}), rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  EXPECT_THROW(batch_norm(Tensor::ones({2, 4, 2, 2}), g, b, rm, rv, train_opts()), Error);  // C mismatch
  EXPECT_THROW(batch_norm(Tensor::ones({2, 3, 2}), g, b, rm, rv, train_opts()), Error);     // 3-d
  EXPECT_THROW(batch_norm(Tensor::ones({2, 3, 2, 2}), g, b, rm, rv, train_opts(), Tensor::ones({2, 3, 2, 1})), Error);
  EXPECT_THROW(batch_norm(Tensor::ones({2, 3, 2, 2}), g, b, Tensor(), Tensor(), train_opts()), Error);
  BatchNormOptions bad{false, true, 0.1, 1e-5, Act::None};  // eval cannot update running stats
  EXPECT_THROW(batch_norm(Tensor::ones({2, 3, 2, 2}), g, b, rm, rv, bad), Error);
}

// Every input (x, gamma, beta, residual) in all three modes with each activation, on spatial
// 4x5, spatial 1x1 with batch 2, and 2-d input.
class BatchNormGrad : public ::testing::TestWithParam<std::tuple<int, Act, Shape>> {};

TEST_P(BatchNormGrad, Gradcheck) {
  auto [mode, act, shape] = GetParam();
  int64_t c = shape[1];
  BatchNormOptions opt = mode == 0 ? train_opts(act) : mode == 1 ? batch_stats_opts(act) : eval_opts(act);
  Tensor x = rand(shape, 20, -2, 2, true), res = rand(shape, 21, -1, 1, true);
  Tensor gamma = rand({c}, 22, 0.5, 1.5, true), beta = rand({c}, 23, -0.5, 0.5, true);
  Tensor rm = rand({c}, 24, -0.3, 0.3), rv = rand({c}, 25, 0.5, 1.5);
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], rm, rv, opt, in[3]); },
                   {x, gamma, beta, res});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], rm, rv, opt); },
                   {x, gamma, beta});
}

INSTANTIATE_TEST_SUITE_P(ModesActsShapes, BatchNormGrad,
                         ::testing::Combine(::testing::Values(0, 1, 2),
                                            ::testing::Values(Act::None, Act::ReLU, Act::SiLU, Act::HardSwish),
                                            ::testing::Values(Shape{2, 3, 4, 5}, Shape{2, 3, 1, 1}, Shape{4, 3})));

TEST(BatchNorm, OnlySomeInputsNeedGradients) {
  // x constant, residual a non-leaf; gamma alone; and the residual alone.
  Tensor x = rand({2, 3, 2, 2}, 26), gamma = rand({3}, 27, 0.5, 1.5, true), beta = rand({3}, 28);
  Tensor res = rand({2, 3, 2, 2}, 29, -1, 1, true);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return batch_norm(x, in[0], beta, Tensor(), Tensor(), batch_stats_opts(Act::SiLU), relu(in[1] * 1.0));
      },
      {gamma, res});
  Tensor g2 = gamma.detach();
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return batch_norm(x, g2, beta, Tensor(), Tensor(), batch_stats_opts(Act::ReLU), in[0]);
      },
      {res});
}

TEST(BatchNorm, Float32MatchesFloat64AndIsDeterministic) {
  // Large enough for the parallel paths.
  Shape s{8, 16, 20, 20};
  Tensor x = rand(s, 30, -3, 5), res = rand(s, 31), g = rand(s, 32);
  Tensor gamma = rand({16}, 33, 0.5, 1.5), beta = rand({16}, 34);
  auto run = [&](DType dt, Tensor& dx, Tensor& dgamma, Tensor& dbeta, Tensor& dres, Tensor& rm) {
    Tensor xx = x.to(dt).set_requires_grad(true), rr = res.to(dt).set_requires_grad(true);
    Tensor gg = gamma.to(dt).set_requires_grad(true), bb = beta.to(dt).set_requires_grad(true);
    rm = Tensor::zeros({16}, dt);
    Tensor rv = Tensor::ones({16}, dt);
    Tensor out = batch_norm(xx, gg, bb, rm, rv, train_opts(Act::HardSwish), rr);
    out.backward(g.to(dt));
    dx = xx.grad();
    dgamma = gg.grad();
    dbeta = bb.grad();
    dres = rr.grad();
    return out;
  };
  Tensor dx64, dg64, db64, dr64, rm64, dx32, dg32, db32, dr32, rm32, dx32b, dg32b, db32b, dr32b, rm32b;
  Tensor o64 = run(DType::Float64, dx64, dg64, db64, dr64, rm64);
  Tensor o32 = run(DType::Float32, dx32, dg32, db32, dr32, rm32);
  EXPECT_LT(max_abs_diff(o32, o64), 2e-5);
  EXPECT_LT(max_abs_diff(dx32, dx64), 2e-5);
  EXPECT_LT(max_abs_diff(dr32, dr64), 2e-5);
  EXPECT_LT(max_abs_diff(dg32, dg64), 1e-3);  // sums over 3200 values
  EXPECT_LT(max_abs_diff(db32, db64), 1e-3);
  EXPECT_LT(max_abs_diff(rm32, rm64), 1e-6);
  Tensor o32b = run(DType::Float32, dx32b, dg32b, db32b, dr32b, rm32b);
  EXPECT_EQ(max_abs_diff(o32b, o32), 0.0);
  EXPECT_EQ(max_abs_diff(dx32b, dx32), 0.0);
  EXPECT_EQ(max_abs_diff(dg32b, dg32), 0.0);
}

TEST(BatchNorm, ReluKinkUsesTheForwardPreActivation) {
  // A channel normalised to exactly -1, 1 with gamma 1, beta 1: z = 0 for the first value, where
  // relu'(0) = 0, so only the residual's second element gets a gradient.
  Tensor x = Tensor::from_vector<double>({-1, 1}, {2, 1});
  Tensor res = Tensor::zeros({2, 1}, DType::Float64).set_requires_grad(true);
  BatchNormOptions opt{true, false, 0.1, 0.0, Act::ReLU};
  Tensor out =
      batch_norm(x, Tensor::ones({1}, DType::Float64), Tensor::ones({1}, DType::Float64), Tensor(), Tensor(), opt, res);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{0, 2}));
  out.backward(Tensor::ones({2, 1}, DType::Float64));
  EXPECT_EQ(res.grad().to_vector<double>(), (std::vector<double>{0, 1}));
}
