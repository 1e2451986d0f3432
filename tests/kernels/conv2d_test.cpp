// conv2d on the CPU: hand-computed values, the reference (kernels/reference/conv2d.h, the
// definition as plain loops) over many geometries (forward and every gradient, float64 and
// float32), gradient checks, accumulation rules, determinism, the chunked GEMM path, and errors.
#include "kernels/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "kernels/im2col_cpu.h"
#include "kernels/reduce.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs;
using dybat::test::max_abs_diff;
using dybat::test::rand;
using dybat::test::ref_conv2d;
using dybat::test::RefConv;

namespace {

struct ConvCase {
  const char* name;
  int64_t n, c_in, h, w, c_out, kh, kw;
  Conv2dParams p;
  bool bias;
};

Conv2dParams params(int sh, int sw, int ph, int pw, int dh = 1, int dw = 1, int groups = 1) {
  Conv2dParams p;
  p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw, p.dil_h = dh, p.dil_w = dw, p.groups = groups;
  return p;
}

// Relative closeness: max |a - b| <= tol (1 + max |b|).
void expect_close(const Tensor& a, const Tensor& b, double tol, const char* what) {
  double scale = 1.0 + max_abs(b);
  EXPECT_LE(max_abs_diff(a, b), tol * scale) << what << " (scale " << scale << ")";
}

// Runs forward and the three kernel-level backwards of one case in `dtype`, against the reference.
void check_case_against_reference(const ConvCase& k, DType dtype, double tol, uint64_t seed) {
  Tensor x = rand({k.n, k.c_in, k.h, k.w}, seed, -1, 1, false, dtype);
  Tensor w = rand({k.c_out, k.c_in / k.p.groups, k.kh, k.kw}, seed + 1, -1, 1, false, dtype);
  Tensor b = k.bias ? rand({k.c_out}, seed + 2, -1, 1, false, dtype) : Tensor();
  Tensor out = conv2d(x, w, b, k.p);
  Tensor dout = rand(out.shape(), seed + 3, -1, 1, false, dtype);
  RefConv r = ref_conv2d(x, w, b, k.p, dout);
  ASSERT_EQ(out.shape(), r.out.shape());
  expect_close(out, r.out, tol, "forward");

  Tensor dx = Tensor::full(x.shape(), 123.0, dtype);  // assigned: the junk must vanish
  conv2d_backward_input(dout, w, k.p, dx);
  expect_close(dx, r.dx, tol, "dx");

  Tensor dw = Tensor::full(w.shape(), 0.25, dtype);  // accumulated: dw = 0.25 + ref
  conv2d_backward_weight(dout, x, k.p, dw);
  expect_close(dw, add(r.dw, 0.25), tol, "dweight");

  if (k.bias) {
    Tensor db = Tensor::full({k.c_out}, -0.5, dtype);
    conv2d_backward_bias(dout, db);
    expect_close(db, add(r.db, -0.5), tol, "dbias");
  }
}

const ConvCase kCases[] = {
    {"k3_s1_p1", 2, 3, 6, 5, 4, 3, 3, params(1, 1, 1, 1), true},
    {"k3_s2_odd", 2, 3, 7, 9, 4, 3, 3, params(2, 2, 1, 1), false},
    {"asymmetric", 2, 2, 6, 9, 3, 3, 2, params(2, 1, 1, 0), true},
    {"pad_only_w", 1, 2, 5, 4, 3, 3, 3, params(1, 1, 0, 2), false},
    {"dilation2", 2, 2, 9, 8, 3, 3, 3, params(1, 1, 2, 2, 2, 2), true},
    {"dilation_mixed", 1, 2, 8, 9, 2, 2, 3, params(2, 1, 1, 2, 3, 2), false},
    {"groups2", 2, 4, 6, 7, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 2), true},
    {"groups2_s2", 3, 4, 7, 5, 4, 3, 3, params(2, 2, 1, 1, 1, 1, 2), false},
    {"depthwise3", 2, 3, 7, 6, 3, 3, 3, params(1, 1, 1, 1, 1, 1, 3), false},
    {"depthwise3_s2_bias", 2, 4, 9, 7, 4, 3, 3, params(2, 2, 1, 1, 1, 1, 4), true},
    {"depthwise5_s2", 2, 4, 9, 11, 4, 5, 5, params(2, 2, 2, 2, 1, 1, 4), false},
    {"depthwise5_s1", 1, 2, 6, 5, 2, 5, 5, params(1, 1, 2, 2, 1, 1, 2), true},
    {"depthwise_dil2", 2, 3, 8, 8, 3, 3, 3, params(1, 2, 2, 1, 2, 2, 3), false},
    {"depthwise_mult2", 2, 3, 6, 6, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 3), true},
    // Planes above the depthwise table size (64 output pixels) take the row loops.
    {"depthwise3_large", 2, 3, 11, 9, 3, 3, 3, params(1, 1, 1, 1, 1, 1, 3), true},
    {"depthwise5_s2_large", 2, 2, 19, 18, 2, 5, 5, params(2, 2, 2, 2, 1, 1, 2), false},
    {"depthwise3_dil2_large", 1, 2, 10, 12, 2, 3, 3, params(1, 1, 2, 2, 2, 2, 2), false},
    {"pointwise", 3, 5, 4, 6, 7, 1, 1, params(1, 1, 0, 0), true},
    {"pointwise_batch1", 1, 5, 4, 3, 2, 1, 1, params(1, 1, 0, 0), false},
    {"pointwise_groups", 2, 4, 3, 5, 6, 1, 1, params(1, 1, 0, 0, 1, 1, 2), true},
    {"pointwise_s2", 2, 3, 7, 6, 4, 1, 1, params(2, 2, 0, 0), false},
    {"pointwise_1x1_plane", 4, 6, 1, 1, 3, 1, 1, params(1, 1, 0, 0), true},
    {"k3_on_1x1_plane", 3, 4, 1, 1, 5, 3, 3, params(1, 1, 1, 1), true},
    {"pointwise_groups_1x1_plane", 3, 4, 1, 1, 6, 1, 1, params(1, 1, 0, 0, 1, 1, 2), true},
    {"k3_groups_on_1x1_plane", 2, 4, 1, 1, 2, 3, 3, params(1, 1, 1, 1, 1, 1, 2), false},
    {"k5_s1_p2", 2, 2, 7, 6, 3, 5, 5, params(1, 1, 2, 2), true},
    {"k7_s2_p3", 2, 3, 11, 10, 4, 7, 7, params(2, 2, 3, 3), false},
    {"batch1_k3", 1, 3, 5, 5, 2, 3, 3, params(1, 1, 1, 1), true},
    {"no_padding_exact", 2, 2, 3, 3, 2, 3, 3, params(1, 1, 0, 0), true},
    {"stride3", 2, 2, 10, 8, 3, 2, 2, params(3, 3, 0, 1), false},
    // Taps that see only padding are left out of the GEMMs: some dead (2x2 plane, stride 2), and
    // none live at all (every output pixel is padding: out = bias, dx = 0, dweight += 0).
    {"dead_taps_s2", 3, 5, 2, 2, 4, 3, 3, params(2, 2, 1, 1), true},
    {"no_live_taps", 2, 2, 1, 1, 3, 2, 2, params(1, 1, 2, 2, 3, 3), true},
    {"dead_taps_batch1", 1, 3, 1, 2, 4, 3, 3, params(1, 1, 1, 1), false},
};

class Conv2dCases : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dCases, Float64MatchesReference) { check_case_against_reference(GetParam(), DType::Float64, 1e-12, 11); }

TEST_P(Conv2dCases, Float32MatchesReference) { check_case_against_reference(GetParam(), DType::Float32, 2e-6, 21); }

TEST_P(Conv2dCases, Gradcheck) {
  const ConvCase& k = GetParam();
  Tensor x = rand({k.n, k.c_in, k.h, k.w}, 31, -1, 1, true);
  Tensor w = rand({k.c_out, k.c_in / k.p.groups, k.kh, k.kw}, 32, -1, 1, true);
  Tensor b = k.bias ? rand({k.c_out}, 33, -1, 1, true) : Tensor();
  Conv2dParams p = k.p;
  EXPECT_GRADCHECK([p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], p); }, {x, w, b});
}

INSTANTIATE_TEST_SUITE_P(Geometries, Conv2dCases, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return std::string(i.param.name); });

}  // namespace

TEST(Conv2d, HandComputedAsymmetricPadding) {
  // x = 1..12 as [3, 4]; a 3x3 box filter; padding 1 on rows only: each output sums the real
  // cells of its window.
  std::vector<double> xs(12);
  for (int i = 0; i < 12; ++i) xs[i] = i + 1;
  Tensor x = Tensor::from_vector(xs, {1, 1, 3, 4});
  Tensor w = Tensor::ones({1, 1, 3, 3}, DType::Float64);
  Tensor b = Tensor::full({1}, 0.5, DType::Float64);
  Tensor out = conv2d(x, w, b, params(1, 1, 1, 0));
  EXPECT_EQ(out.shape(), (Shape{1, 1, 3, 2}));
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{24.5, 30.5, 54.5, 63.5, 48.5, 54.5}));
}

TEST(Conv2d, HandComputedStrideAndDilation) {
  // x[h, w] = 5h + w on a 5x5 plane; taps (0,0), (0,2), (2,0), (2,2) with weights 1, 2, 3, 4.
  std::vector<float> xs(25);
  for (int i = 0; i < 25; ++i) xs[i] = static_cast<float>(i);
  Tensor x = Tensor::from_vector(xs, {1, 1, 5, 5});
  Tensor w = Tensor::from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor out = conv2d(x, w, Tensor(), params(2, 2, 0, 0, 2, 2));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{82, 102, 182, 202}));
}

TEST(Conv2d, HandComputedGroupsAndCrossCorrelation) {
  // Two groups of one channel: each output channel sees only its own input channel.
  Tensor x = Tensor::from_vector<double>({3, 5}, {1, 2, 1, 1});
  Tensor w = Tensor::from_vector<double>({2, 7}, {2, 1, 1, 1});
  EXPECT_EQ(conv2d(x, w, Tensor(), params(1, 1, 0, 0, 1, 1, 2)).to_vector<double>(), (std::vector<double>{6, 35}));
  // No kernel flip: out = sum x[i + a, j + b] w[a, b] (x = [[1, 2], [3, 4]], w = [[1, 0], [0, 0]] -> 1).
  Tensor x2 = Tensor::from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor w2 = Tensor::from_vector<double>({1, 0, 0, 0}, {1, 1, 2, 2});
  EXPECT_EQ(conv2d(x2, w2, Tensor(), {}).to_vector<double>(), (std::vector<double>{1}));
}

TEST(Conv2d, Float32AgreesWithFloat64) {
  Tensor x64 = rand({4, 8, 13, 11}, 41), w64 = rand({16, 8, 3, 3}, 42), b64 = rand({16}, 43);
  Conv2dParams p = params(2, 2, 1, 1);
  Tensor o64 = conv2d(x64, w64, b64, p);
  Tensor o32 = conv2d(x64.to(DType::Float32), w64.to(DType::Float32), b64.to(DType::Float32), p);
  EXPECT_EQ(o32.dtype(), DType::Float32);
  expect_close(o32, o64, 1e-6, "float32 vs float64");
}

TEST(Conv2d, WeightAndBiasGradientsAccumulateIntoExistingGrad) {
  Tensor x = rand({2, 3, 5, 6}, 51, -1, 1, true), w = rand({4, 3, 3, 3}, 52, -1, 1, true);
  Tensor b = rand({4}, 53, -1, 1, true);
  Conv2dParams p = params(1, 2, 1, 1);
  Tensor dout = rand({2, 4, 5, 3}, 54);
  RefConv r = ref_conv2d(x, w, b, p, dout);
  w.set_grad(Tensor::full(w.shape(), 2.0, DType::Float64));
  b.set_grad(Tensor::full(b.shape(), -1.0, DType::Float64));
  Tensor wgrad_before = w.grad();
  conv2d(x, w, b, p).backward(dout);
  expect_close(w.grad(), add(r.dw, 2.0), 1e-12, "dweight += ");
  expect_close(b.grad(), add(r.db, -1.0), 1e-12, "dbias += ");
  expect_close(x.grad(), r.dx, 1e-12, "dx");
  EXPECT_TRUE(w.grad().same_storage(wgrad_before)) << "dweight should be added in place into .grad";
  // A second backward through a new graph adds again.
  conv2d(x, w, b, p).backward(dout);
  expect_close(w.grad(), add(mul(r.dw, 2.0), 2.0), 1e-12, "dweight after two steps");
}

TEST(Conv2d, OnlyRequestedGradientsAreComputed) {
  Tensor x = rand({1, 2, 4, 4}, 61), w = rand({3, 2, 3, 3}, 62, -1, 1, true);
  Tensor out = conv2d(x, w, Tensor(), params(1, 1, 1, 1));
  out.backward(Tensor::ones(out.shape(), DType::Float64));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(w.grad().defined());
  // Input only (frozen weights, as for a first layer's input in a saliency map).
  Tensor x2 = rand({1, 2, 4, 4}, 63, -1, 1, true), w2 = rand({3, 2, 3, 3}, 64);
  Tensor out2 = conv2d(x2, w2, Tensor(), params(1, 1, 1, 1));
  out2.backward(Tensor::ones(out2.shape(), DType::Float64));
  EXPECT_TRUE(x2.grad().defined());
  EXPECT_FALSE(w2.grad().defined());
}

TEST(Conv2d, GradcheckThroughNonLeafWeightAndNonContiguousInput) {
  // A non-leaf weight gets its gradient returned (grad_target gives a fresh buffer); a permuted
  // input goes through contiguous().
  Tensor x = rand({2, 5, 4, 3}, 71, -1, 1, true), w = rand({4, 3, 3, 3}, 72, -1, 1, true);
  Tensor b = rand({4}, 73, -1, 1, true);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor xp = in[0].permute({0, 3, 1, 2});  // [2, 3, 5, 4], not contiguous
        return conv2d(xp, mul(in[1], 3.0), mul(in[2], 0.5), params(1, 1, 1, 0));
      },
      {x, w, b});
}

TEST(Conv2d, ChunkedBatchMatchesReference) {
  // Shrink the column budget so the batch runs in chunks of 2 with a partial last chunk (and in
  // chunks of 1), through dense, grouped and pointwise paths.
  struct BudgetGuard {
    int64_t saved = cpu::conv_detail::chunk_budget_bytes();
    ~BudgetGuard() { cpu::conv_detail::chunk_budget_bytes() = saved; }
  } guard;
  const ConvCase cases[] = {
      {"dense", 5, 3, 7, 6, 4, 3, 3, params(2, 1, 1, 1), true},
      {"grouped", 5, 4, 6, 5, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 2), false},
      {"pointwise", 5, 6, 4, 5, 3, 1, 1, params(1, 1, 0, 0), true},
  };
  for (const ConvCase& k : cases) {
    SCOPED_TRACE(k.name);
    const int64_t oh = conv_out_size(k.h, k.kh, k.p.stride_h, k.p.pad_h, k.p.dil_h);
    const int64_t ow = conv_out_size(k.w, k.kw, k.p.stride_w, k.p.pad_w, k.p.dil_w);
    const int64_t per_image = std::max(k.c_in * k.kh * k.kw, k.c_out) * oh * ow;  // elements
    for (DType dt : {DType::Float64, DType::Float32}) {
      const int64_t elem = dt == DType::Float64 ? 8 : 4;
      for (int64_t images : {2, 1}) {
        cpu::conv_detail::chunk_budget_bytes() = images * per_image * elem;
        check_case_against_reference(k, dt, dt == DType::Float64 ? 1e-12 : 2e-6, 91);
      }
    }
  }
}

TEST(Conv2d, EveryThreadSplitMatchesReference) {
  // The batch is split over the threads when it has at least as many images (uneven with 3
  // threads and 5 images), runs as one task with split GEMMs when smaller, and serially on one
  // thread; small planes take the table paths and 1x1 planes the plain-GEMM path.
  const int saved = omp_get_max_threads();
  const ConvCase cases[] = {
      {"dense", 5, 3, 7, 6, 4, 3, 3, params(2, 1, 1, 1), true},
      {"same_rows", 5, 4, 9, 8, 6, 3, 3, params(1, 1, 1, 1), false},
      {"small_plane", 5, 4, 4, 4, 6, 3, 3, params(1, 1, 1, 1), true},
      {"pointwise", 5, 6, 4, 5, 3, 1, 1, params(1, 1, 0, 0), true},
      {"plane_1x1", 5, 6, 1, 1, 3, 3, 3, params(1, 1, 1, 1), true},
      {"batch2", 2, 3, 6, 5, 4, 3, 3, params(1, 1, 1, 1), false},
      {"depthwise", 5, 4, 9, 11, 4, 5, 5, params(2, 2, 2, 2, 1, 1, 4), false},
  };
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    for (const ConvCase& k : cases) {
      SCOPED_TRACE(std::string(k.name) + " on " + std::to_string(threads) + " threads");
      check_case_against_reference(k, DType::Float64, 1e-12, 95);
      check_case_against_reference(k, DType::Float32, 2e-6, 96);
    }
  }
  omp_set_num_threads(saved);
}

TEST(Conv2d, RunsAreBitIdentical) {
  Tensor x = rand({6, 16, 17, 15}, 81, -1, 1, false, DType::Float32);
  Tensor w = rand({24, 16, 3, 3}, 82, -1, 1, false, DType::Float32);
  Tensor dw_ = rand({16, 1, 5, 5}, 83, -1, 1, false, DType::Float32);
  auto run = [&]() {
    std::vector<std::vector<float>> r;
    for (int depthwise = 0; depthwise < 2; ++depthwise) {
      Tensor xl = x.clone().set_requires_grad(true);
      Tensor wl = (depthwise ? dw_ : w).clone().set_requires_grad(true);
      Conv2dParams p = depthwise ? params(2, 2, 2, 2, 1, 1, 16) : params(1, 1, 1, 1);
      Tensor out = conv2d(xl, wl, Tensor(), p);
      out.backward(rand(out.shape(), 84, -1, 1, false, DType::Float32));
      r.push_back(out.to_vector<float>());
      r.push_back(xl.grad().to_vector<float>());
      r.push_back(wl.grad().to_vector<float>());
    }
    return r;
  };
  auto a = run(), b = run();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)), 0) << "result " << i;
  }
}

TEST(Conv2d, BadShapesAreRejectedWithClearMessages) {
  Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 2, 3, 3});
  try {
    conv2d(x, w, Tensor(), {});
    FAIL() << "channel mismatch accepted";
  } catch (const Error& e) {
    std::string m = e.message();
    EXPECT_NE(m.find("[2, 3, 8, 8]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 2, 3, 3]"), std::string::npos) << m;
  }
  EXPECT_THROW(conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3}), Tensor(), {}), Error);
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 3, 3}), Tensor(), {}), Error);
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 3, 9, 3}), Tensor(), {}), Error);  // kernel taller than input
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5}), {}), Error);  // bias size
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), params(0, 1, 0, 0)), Error);  // stride 0
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), params(1, 1, -1, 0)), Error);
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), params(1, 1, 0, 0, 0, 1)), Error);
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 1, 3, 3}), Tensor(), params(1, 1, 0, 0, 1, 1, 2)), Error);  // 3 % 2
  EXPECT_THROW(conv2d(Tensor::zeros({2, 4, 8, 8}), Tensor::zeros({3, 2, 3, 3}), Tensor(), params(1, 1, 0, 0, 1, 1, 2)),
               Error);  // C_out 3 not divisible by groups 2
  EXPECT_THROW(conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::Float64), Tensor(), {}), Error);  // dtype mismatch
  EXPECT_THROW(conv_out_size(4, 3, 1, 0, 2), Error);  // dilated extent 5 > 4
  EXPECT_EQ(conv_out_size(224, 7, 2, 3, 1), 112);
  EXPECT_EQ(conv_out_size(7, 3, 2, 1, 1), 4);
  // Kernel level: a wrongly shaped output.
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), {}, Tensor::zeros({2, 4, 8, 8})), Error);
}
