// CUDA pooling against the reference (kernels/reference/pool.h): max pooling (exact values and
// argmax, ties from ReLU zeros included), average pooling with padding, adaptive pooling (general
// and global), forward and backward, over named and randomised geometries.
#include <algorithm>
#include <random>

#include "core/autograd.h"
#include "core/settings.h"
#include "kernels/pool.h"
#include "support/reference_util.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs;
using dybat::test::max_abs_diff;
using dybat::test::rand;
using dybat::test::ref_adaptive_avg_pool2d;
using dybat::test::ref_avg_pool2d;
using dybat::test::ref_max_pool2d;
using dybat::test::RefPool;

namespace {

struct PoolGeometry {
  std::string name;
  Shape x;
  Pool2dParams p;
};

Pool2dParams pool(int kh, int kw, int sh, int sw, int ph, int pw) { return {kh, kw, sh, sw, ph, pw}; }

// Float32 window sums are short (at most a few hundred terms in these tests): 1e-5 of the scale is
// far above their rounding and far below any indexing mistake.
double rtol_for(DType dtype) { return dtype == DType::Float64 ? 1e-12 : 1e-5; }

void expect_scaled(const Tensor& got, const Tensor& ref, double rtol, const std::string& what) {
  const double scale = 1.0 + max_abs(ref);
  EXPECT_LE(max_abs_diff(got.cpu(), ref), rtol * scale) << what << " (scale " << scale << ")";
}

// Random float32 values with about a third set to exactly zero (as after a ReLU), so max-pool
// windows tie often, and CPU and GPU must agree on the first maximum.
Tensor relu_like(const Shape& shape, uint64_t seed) {
  std::vector<float> v = rand(shape, seed, -0.5, 1.0, false, DType::Float32).to_vector<float>();
  for (float& e : v) e = std::max(e, 0.0f);
  return Tensor::from_vector(v, shape);
}

Shape out_shape(const Shape& x, const Pool2dParams& p) {
  return {x[0], x[1], (x[2] + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1,
          (x[3] + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1};
}

void check_max_and_avg(const PoolGeometry& g, DType dtype, uint64_t seed) {
  SCOPED_TRACE(g.name);
  const Device gpu = Device::cuda(0);
  const Shape os = out_shape(g.x, g.p);
  Tensor x = relu_like(g.x, seed).to(DType::Float64);  // exactly representable in float32
  Tensor dout = rand(os, seed + 1);

  // max pooling: values and argmax must match exactly, dx to rounding.
  const RefPool max_ref = ref_max_pool2d(x, g.p, dout);
  const Tensor &out_ref = max_ref.out, &arg_ref = max_ref.argmax, &dx_ref = max_ref.dx;
  Tensor xd = x.to(dtype).to(gpu), dd = dout.to(dtype).to(gpu);
  Tensor out = Tensor::empty(os, dtype, gpu), arg = Tensor::empty(os, DType::Int64, gpu);
  max_pool2d_forward(xd, g.p, out, arg);
  EXPECT_EQ(max_abs_diff(out.cpu(), out_ref), 0.0) << "max forward";
  EXPECT_EQ(arg.to_vector<int64_t>(), arg_ref.to_vector<int64_t>()) << "argmax";
  Tensor dx = Tensor::full(g.x, 1e3, dtype, gpu);
  max_pool2d_backward(dd, arg, g.p, dx);
  expect_scaled(dx, dx_ref, rtol_for(dtype), "max backward");

  // average pooling (padding counted in the divisor).
  Tensor xa = rand(g.x, seed + 2);
  const RefPool avg_ref = ref_avg_pool2d(xa, g.p, dout);
  Tensor avg = Tensor::empty(os, dtype, gpu);
  avg_pool2d_forward(xa.to(dtype).to(gpu), g.p, avg);
  expect_scaled(avg, avg_ref.out, rtol_for(dtype), "avg forward");
  Tensor dxa = Tensor::full(g.x, 1e3, dtype, gpu);
  avg_pool2d_backward(dd, g.p, dxa);
  expect_scaled(dxa, avg_ref.dx, rtol_for(dtype), "avg backward");
}

void check_adaptive(const Shape& xs, int64_t oh, int64_t ow, DType dtype, uint64_t seed) {
  SCOPED_TRACE(shape_str(xs) + " -> " + std::to_string(oh) + "x" + std::to_string(ow));
  const Device gpu = Device::cuda(0);
  Tensor x = rand(xs, seed), dout = rand({xs[0], xs[1], oh, ow}, seed + 1);
  const RefPool ref = ref_adaptive_avg_pool2d(x, oh, ow, dout);
  Tensor out = Tensor::empty(dout.shape(), dtype, gpu), dx = Tensor::full(xs, 1e3, dtype, gpu);
  adaptive_avg_pool2d_forward(x.to(dtype).to(gpu), out);
  adaptive_avg_pool2d_backward(dout.to(dtype).to(gpu), dx);
  expect_scaled(out, ref.out, rtol_for(dtype), "adaptive forward");
  expect_scaled(dx, ref.dx, rtol_for(dtype), "adaptive backward");
}

const PoolGeometry kNamed[] = {
    {"resnet_stem_k3_s2_p1", {2, 8, 33, 31}, pool(3, 3, 2, 2, 1, 1)},
    {"k2_s2", {3, 4, 16, 12}, pool(2, 2, 2, 2, 0, 0)},
    {"k3_s1_p1", {2, 3, 9, 7}, pool(3, 3, 1, 1, 1, 1)},
    {"rect_asymmetric", {2, 3, 11, 8}, pool(3, 2, 2, 1, 1, 1)},
    {"k5_s3_p2", {1, 2, 17, 19}, pool(5, 5, 3, 3, 2, 2)},
    {"batch1_window_is_plane", {1, 5, 7, 7}, pool(7, 7, 1, 1, 0, 0)},
};

std::vector<PoolGeometry> random_geometries(int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<PoolGeometry> out;
  for (int i = 0; i < count; ++i) {
    Pool2dParams p = pool(pick(1, 5), pick(1, 5), pick(1, 3), pick(1, 3), 0, 0);
    p.pad_h = pick(0, p.kernel_h / 2);
    p.pad_w = pick(0, p.kernel_w / 2);
    Shape x = {pick(1, 3), pick(1, 6), pick(p.kernel_h, 21), pick(p.kernel_w, 21)};
    out.push_back({"random_" + std::to_string(i), x, p});
  }
  return out;
}

}  // namespace

TEST(CudaParity, MaxAndAvgPoolNamedGeometries) {
  DYBAT_REQUIRE_GPU();
  uint64_t seed = 10;
  for (const PoolGeometry& g : kNamed) check_max_and_avg(g, DType::Float32, seed += 10);
}

TEST(CudaParity, MaxAndAvgPoolRandomGeometries) {
  DYBAT_REQUIRE_GPU();
  uint64_t seed = 300;
  for (const PoolGeometry& g : random_geometries(30, 3)) check_max_and_avg(g, DType::Float32, seed += 10);
}

TEST(CudaParity, PoolFloat64) {
  DYBAT_REQUIRE_GPU();
  uint64_t seed = 700;
  for (const PoolGeometry& g : kNamed) check_max_and_avg(g, DType::Float64, seed += 10);
  check_adaptive({2, 3, 5, 7}, 3, 2, DType::Float64, 790);
}

TEST(CudaParity, AdaptiveAvgPool) {
  DYBAT_REQUIRE_GPU();
  check_adaptive({2, 3, 5, 7}, 3, 2, DType::Float32, 800);   // non-divisible
  check_adaptive({2, 4, 14, 14}, 7, 7, DType::Float32, 810);  // divisible
  check_adaptive({1, 2, 5, 6}, 7, 9, DType::Float32, 820);    // larger than the input
  check_adaptive({3, 5, 9, 4}, 4, 3, DType::Float32, 830);
}

TEST(CudaParity, GlobalAvgPool) {
  DYBAT_REQUIRE_GPU();
  check_adaptive({4, 64, 7, 7}, 1, 1, DType::Float32, 900);
  check_adaptive({3, 5, 1, 1}, 1, 1, DType::Float32, 910);
  check_adaptive({2, 3, 33, 35}, 1, 1, DType::Float32, 920);  // planes longer than a warp's stride
  check_adaptive({1, 1000, 2, 3}, 1, 1, DType::Float32, 930);  // many planes: grid-stride warps
}

TEST(CudaParity, PoolAutogradOnDevice) {
  DYBAT_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  Tensor x = relu_like({2, 3, 11, 9}, 1000).to(DType::Float64);
  Pool2dParams p = pool(3, 3, 2, 2, 1, 1);
  const Pool2dParams p2 = pool(2, 2, 1, 1, 1, 1);
  Tensor xg = x.to(DType::Float32).to(gpu).set_requires_grad(true);
  Tensor yg = adaptive_avg_pool2d(avg_pool2d(max_pool2d(xg, p), p2), 1, 1);
  // The reference chain, forward, then backward from the last op to the first.
  const RefPool r1 = ref_max_pool2d(x, p), r2 = ref_avg_pool2d(r1.out, p2);
  Tensor dout = rand({2, 3, 1, 1}, 1001);
  const Tensor d2 = ref_adaptive_avg_pool2d(r2.out, 1, 1, dout).dx, d1 = ref_avg_pool2d(r1.out, p2, d2).dx;
  yg.backward(dout.to(DType::Float32).to(gpu));
  expect_scaled(yg, ref_adaptive_avg_pool2d(r2.out, 1, 1).out, 1e-5, "forward");
  expect_scaled(xg.grad(), ref_max_pool2d(x, p, d1).dx, 1e-5, "dx");
}
