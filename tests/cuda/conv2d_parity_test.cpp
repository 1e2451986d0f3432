// CUDA conv2d (cuDNN) against the reference (kernels/reference/conv2d.h, the definition in
// double): forward, dx (assigned), dweight and dbias (accumulated), over named and randomised
// geometries, with TF32 off and tolerances scaled to each result's magnitude; plus autograd on the
// device, float64, determinism and TF32 smoke tests.
#include <cstring>
#include <random>

#include "core/autograd.h"
#include "core/settings.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs;
using dybat::test::max_abs_diff;
using dybat::test::rand;
using dybat::test::ref_conv2d;
using dybat::test::RefConv;

namespace {

// Restores the backend settings a test changes. FFT and Winograd algorithms are excluded: their
// float32 error (about 1e-5 to 1e-4 relative) is above the 1e-4 tolerances here
// (tests/cuda/conv2d_algo_test.cpp checks an FFT or Winograd choice against 1e-3).
struct SettingsGuard {
  BackendSettings saved = backend_settings();
  SettingsGuard(bool tf32, bool deterministic) {
    backend_settings().tf32_conv = tf32;
    backend_settings().deterministic = deterministic;
    backend_settings().conv_exclude_fft_winograd = true;
  }
  ~SettingsGuard() { backend_settings() = saved; }
};

struct Geometry {
  std::string name;
  int64_t n, c_in, h, w, c_out, kh, kw;
  Conv2dParams p;
  bool bias;
};

Conv2dParams params(int sh, int sw, int ph, int pw, int dh = 1, int dw = 1, int groups = 1) {
  Conv2dParams p;
  p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw, p.dil_h = dh, p.dil_w = dw, p.groups = groups;
  return p;
}

// |got - ref| <= rtol (1 + max |ref|): float32 sums of many terms err relative to the result's
// scale, not per element.
void expect_scaled(const Tensor& got, const Tensor& ref, double rtol, const std::string& what) {
  const double scale = 1.0 + max_abs(ref);
  EXPECT_LE(max_abs_diff(got.cpu(), ref), rtol * scale) << what << " (scale " << scale << ")";
}

// Kernel-level forward and the three backwards on the device in `dtype`, against the reference.
void check_geometry(const Geometry& g, DType dtype, double rtol, uint64_t seed) {
  SCOPED_TRACE(g.name);
  const Device gpu = Device::cuda(0);
  Tensor x = rand({g.n, g.c_in, g.h, g.w}, seed);
  Tensor w = rand({g.c_out, g.c_in / g.p.groups, g.kh, g.kw}, seed + 1);
  Tensor b = g.bias ? rand({g.c_out}, seed + 2) : Tensor();
  const int64_t oh = conv_out_size(g.h, g.kh, g.p.stride_h, g.p.pad_h, g.p.dil_h);
  const int64_t ow = conv_out_size(g.w, g.kw, g.p.stride_w, g.p.pad_w, g.p.dil_w);
  Tensor dout = rand({g.n, g.c_out, oh, ow}, seed + 3);

  // The reference, with the device's accumulation starting points added (dweight 0.5, dbias -0.25).
  const RefConv ref = ref_conv2d(x, w, b, g.p, dout);
  const Tensor out_ref = ref.out, dx_ref = ref.dx, dw_ref = add(ref.dw, 0.5);
  const Tensor db_ref = g.bias ? add(ref.db, -0.25) : Tensor();

  auto dev = [&](const Tensor& t) { return t.defined() ? t.to(dtype).to(gpu) : Tensor(); };
  Tensor xd = dev(x), wd = dev(w), bd = dev(b), dd = dev(dout);
  Tensor out = Tensor::empty(dout.shape(), dtype, gpu);
  conv2d_forward(xd, wd, bd, g.p, out);
  expect_scaled(out, out_ref, rtol, "forward");
  Tensor dx = Tensor::full(x.shape(), 1e3, dtype, gpu);  // assigned: the fill must not survive
  conv2d_backward_input(dd, wd, g.p, dx);
  expect_scaled(dx, dx_ref, rtol, "dx");
  Tensor dw = Tensor::full(w.shape(), 0.5, dtype, gpu);  // accumulated onto 0.5
  conv2d_backward_weight(dd, xd, g.p, dw);
  expect_scaled(dw, dw_ref, rtol, "dweight");
  if (g.bias) {
    Tensor db = Tensor::full({g.c_out}, -0.25, dtype, gpu);
    conv2d_backward_bias(dd, db);
    expect_scaled(db, db_ref, rtol, "dbias");
  }
}

const Geometry kNamed[] = {
    {"resnet_stem_7x7_s2_p3", 2, 3, 33, 31, 8, 7, 7, params(2, 2, 3, 3), false},
    {"3x3_s1_p1", 2, 16, 12, 12, 16, 3, 3, params(1, 1, 1, 1), false},
    {"3x3_s2_odd", 3, 8, 13, 11, 12, 3, 3, params(2, 2, 1, 1), true},
    {"asymmetric", 2, 4, 9, 14, 6, 3, 5, params(2, 1, 1, 2), true},
    {"dilation2", 2, 4, 15, 13, 4, 3, 3, params(1, 1, 2, 2, 2, 2), false},
    {"groups2", 2, 8, 10, 9, 12, 3, 3, params(1, 1, 1, 1, 1, 1, 2), true},
    {"depthwise3x3", 4, 24, 14, 14, 24, 3, 3, params(1, 1, 1, 1, 1, 1, 24), false},
    {"depthwise5x5_s2", 2, 16, 17, 15, 16, 5, 5, params(2, 2, 2, 2, 1, 1, 16), false},
    {"pointwise_bias", 4, 32, 7, 7, 48, 1, 1, params(1, 1, 0, 0), true},
    {"squeeze_excite_1x1_plane", 8, 64, 1, 1, 16, 1, 1, params(1, 1, 0, 0), true},
    {"batch1", 1, 6, 11, 9, 5, 3, 3, params(1, 1, 1, 1), true},
    {"downsample_1x1_s2", 2, 16, 14, 14, 32, 1, 1, params(2, 2, 0, 0), false},
};

// Random geometries: odd sizes, stride, padding, dilation, groups (depthwise included), batch 1.
std::vector<Geometry> random_geometries(int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<Geometry> out;
  for (int i = 0; i < count; ++i) {
    Geometry g;
    g.name = "random_" + std::to_string(i);
    const int kind = pick(0, 2);  // dense, grouped, depthwise
    const int groups = kind == 0 ? 1 : kind == 1 ? pick(2, 3) : pick(3, 12);
    g.c_in = kind == 2 ? groups : groups * pick(1, 4);
    g.c_out = kind == 2 ? groups : groups * pick(1, 4);
    g.kh = 2 * pick(0, 3) + 1;
    g.kw = pick(0, 1) ? g.kh : 2 * pick(0, 2) + 1;
    g.p = params(pick(1, 2), pick(1, 2), pick(0, static_cast<int>(g.kh / 2)), pick(0, static_cast<int>(g.kw / 2)),
                 pick(1, 2), pick(1, 2), groups);
    g.n = pick(0, 3) == 0 ? 1 : pick(2, 4);
    g.h = pick(static_cast<int>(g.p.dil_h * (g.kh - 1) + 1), 19);
    g.w = pick(static_cast<int>(g.p.dil_w * (g.kw - 1) + 1), 19);
    g.bias = pick(0, 1) == 1;
    out.push_back(g);
  }
  return out;
}

}  // namespace

TEST(CudaParity, Conv2dNamedGeometries) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard s(/*tf32=*/false, /*deterministic=*/false);
  uint64_t seed = 100;
  for (const Geometry& g : kNamed) check_geometry(g, DType::Float32, 1e-4, seed += 10);
}

TEST(CudaParity, Conv2dRandomGeometries) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard s(false, false);
  uint64_t seed = 500;
  for (const Geometry& g : random_geometries(24, 7)) check_geometry(g, DType::Float32, 1e-4, seed += 10);
}

TEST(CudaParity, Conv2dDeterministicAlgorithms) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard s(false, true);
  uint64_t seed = 900;
  for (const Geometry& g : kNamed) check_geometry(g, DType::Float32, 1e-4, seed += 10);
}

TEST(CudaParity, Conv2dFloat64) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard s(false, false);
  uint64_t seed = 1300;
  for (const Geometry& g : kNamed) check_geometry(g, DType::Float64, 1e-11, seed += 10);
}

TEST(CudaParity, Conv2dTf32StaysClose) {
  // TF32 keeps 10 mantissa bits: results stay within about 1e-3 of the scale.
  DYBAT_REQUIRE_GPU();
  SettingsGuard s(true, false);
  check_geometry(kNamed[1], DType::Float32, 5e-3, 1700);
  check_geometry(kNamed[5], DType::Float32, 5e-3, 1710);
}

TEST(CudaParity, Conv2dAutogradOnDeviceAccumulatesParameterGradients) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard s(false, false);
  const Device gpu = Device::cuda(0);
  Conv2dParams p = params(2, 1, 1, 1);
  Tensor x = rand({3, 4, 9, 8}, 1900), w = rand({6, 4, 3, 3}, 1901), b = rand({6}, 1902);
  Tensor dout = rand({3, 6, 5, 8}, 1903);
  const RefConv ref = ref_conv2d(x, w, b, p, dout);

  Tensor xg = x.to(DType::Float32).to(gpu).set_requires_grad(true);
  Tensor wg = w.to(DType::Float32).to(gpu).set_requires_grad(true);
  Tensor bg = b.to(DType::Float32).to(gpu).set_requires_grad(true);
  wg.set_grad(Tensor::full(w.shape(), 1.0, DType::Float32, gpu));
  bg.set_grad(Tensor::full(b.shape(), 2.0, DType::Float32, gpu));
  Tensor out_g = conv2d(xg, wg, bg, p);
  out_g.backward(dout.to(DType::Float32).to(gpu));
  expect_scaled(out_g, ref.out, 1e-4, "forward");
  expect_scaled(xg.grad(), ref.dx, 1e-4, "dx");
  expect_scaled(wg.grad(), add(ref.dw, 1.0), 1e-4, "dweight += ");
  expect_scaled(bg.grad(), add(ref.db, 2.0), 1e-4, "dbias += ");
}

TEST(CudaParity, Conv2dDeterministicRunsAreBitIdentical) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard s(false, true);
  const Device gpu = Device::cuda(0);
  for (const Geometry& g : {kNamed[0], kNamed[5], kNamed[6]}) {
    SCOPED_TRACE(g.name);
    Tensor x = rand({g.n, g.c_in, g.h, g.w}, 2000, -1, 1, false, DType::Float32).to(gpu);
    Tensor w = rand({g.c_out, g.c_in / g.p.groups, g.kh, g.kw}, 2001, -1, 1, false, DType::Float32).to(gpu);
    auto run = [&]() {
      Tensor xl = x.clone().set_requires_grad(true), wl = w.clone().set_requires_grad(true);
      Tensor out = conv2d(xl, wl, Tensor(), g.p);
      out.backward(rand(out.shape(), 2002, -1, 1, false, DType::Float32).to(gpu));
      return std::vector<std::vector<float>>{out.to_vector<float>(), xl.grad().to_vector<float>(),
                                             wl.grad().to_vector<float>()};
    };
    auto a = run(), c = run();
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].size(), c[i].size());
      EXPECT_EQ(std::memcmp(a[i].data(), c[i].data(), a[i].size() * sizeof(float)), 0) << "result " << i;
    }
  }
}
