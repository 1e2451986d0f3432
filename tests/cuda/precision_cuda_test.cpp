// Mixed precision on CUDA: a bf16 net matches its float32 twin within bf16 tolerances, with
// float32 master-weight gradients; the bf16 conv and GEMM kernels against the CPU float64 result
// on bf16-rounded operands.
#include "layers/precision.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/settings.h"
#include "kernels/cast.h"
#include "kernels/conv2d.h"
#include "kernels/loss.h"
#include "kernels/matmul.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/pool.h"
#include "support/precision_net.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {

// |got - ref| <= tol (1 + max |ref|).
void expect_close(const Tensor& got, const Tensor& ref, double tol, const std::string& what) {
  EXPECT_LE(max_abs_diff(got.cpu().to(DType::Float64), ref.cpu().to(DType::Float64)), tol * (1 + max_abs(ref)))
      << what;
}

// A float64 CPU tensor rounded through bfloat16 (still float64): what a bf16 operand holds.
Tensor round_bf16(const Tensor& t) { return t.to(DType::BFloat16).to(DType::Float64); }

// Restores the backend settings; the float32 reference runs without TF32.
struct NoTf32 {
  BackendSettings saved = backend_settings();
  NoTf32() { backend_settings().tf32_conv = backend_settings().tf32_matmul = false; }
  ~NoTf32() { backend_settings() = saved; }
};

}  // namespace

TEST(CudaPrecision, Bf16NetMatchesFloat32) {
  DYBAT_REQUIRE_GPU();
  NoTf32 no_tf32;
  Device d = Device::cuda();
  test::SmallPrecisionNet a, b;  // the same weights
  a.to(d);
  b.to(d);
  set_compute_dtype(b, DType::BFloat16);
  Tensor x = rand({8, 3, 12, 12}, 2, -1, 1, false, DType::Float32).to(d);
  Tensor y = Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7}, {8}).to(d);
  Tensor dmean = Tensor::full({8}, 1.0 / 8, DType::Float32, d);
  Tensor oa = a(x), ob = b(x);
  EXPECT_EQ(ob.dtype(), DType::Float32);  // activations between layers and the logits stay float32
  expect_close(ob, oa, 3e-2, "logits");
  cross_entropy(oa, y).backward(dmean);
  cross_entropy(ob, y).backward(dmean);
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_TRUE(pb[i].second.grad().defined()) << pb[i].first;
    EXPECT_EQ(pb[i].second.grad().dtype(), DType::Float32) << pb[i].first;  // master gradients
    expect_close(pb[i].second.grad(), pa[i].second.grad(), 5e-2, pb[i].first);
  }
  expect_close(b.bn->running_mean, a.bn->running_mean, 3e-2, "running_mean");  // float32 statistics
  EXPECT_EQ(b.bn->running_mean.dtype(), DType::Float32);
}

TEST(CudaParity, Conv2dBf16) {
  DYBAT_REQUIRE_GPU();
  struct G {
    int64_t n, c, h, w, co, k;
    int stride, pad, groups;
    bool bias;
  } geoms[] = {{2, 16, 13, 11, 32, 3, 1, 1, 1, true}, {3, 8, 16, 16, 24, 3, 2, 1, 1, false},
               {4, 32, 7, 7, 16, 1, 1, 0, 1, true},   {2, 24, 10, 9, 24, 3, 1, 1, 24, false}};
  uint64_t seed = 10;
  for (const G& g : geoms) {
    SCOPED_TRACE(::testing::Message() << "c " << g.c << " k " << g.k << " groups " << g.groups);
    Conv2dParams p;
    p.stride_h = p.stride_w = g.stride;
    p.pad_h = p.pad_w = g.pad;
    p.groups = g.groups;
    Tensor x = round_bf16(rand({g.n, g.c, g.h, g.w}, seed++));
    Tensor w = round_bf16(rand({g.co, g.c / g.groups, g.k, g.k}, seed++));
    Tensor b = g.bias ? round_bf16(rand({g.co}, seed++)) : Tensor();
    const int64_t oh = conv_out_size(g.h, g.k, g.stride, g.pad, 1), ow = conv_out_size(g.w, g.k, g.stride, g.pad, 1);
    Tensor dout = round_bf16(rand({g.n, g.co, oh, ow}, seed++));
    auto gpu = [](const Tensor& t) { return t.defined() ? t.to(DType::BFloat16).to(Device::cuda()) : Tensor(); };

    Tensor ref = Tensor::empty({g.n, g.co, oh, ow}, DType::Float64), out = gpu(ref);
    conv2d_forward(x, w, b, p, ref);
    conv2d_forward(gpu(x), gpu(w), gpu(b), p, out);
    expect_close(out, ref, 1e-2, "forward");

    Tensor dx_ref = x.zeros_like(), dx = gpu(dx_ref);
    conv2d_backward_input(dout, w, p, dx_ref);
    conv2d_backward_input(gpu(dout), gpu(w), p, dx);
    expect_close(dx, dx_ref, 1e-2, "dx");

    Tensor dw_ref = w.zeros_like(), dw = gpu(dw_ref);
    conv2d_backward_weight(dout, x, p, dw_ref);
    conv2d_backward_weight(gpu(dout), gpu(x), p, dw);
    expect_close(dw, dw_ref, 1e-2, "dweight");

    if (g.bias) {
      Tensor db_ref = b.zeros_like(), db = gpu(db_ref);
      conv2d_backward_bias(dout, db_ref);
      conv2d_backward_bias(gpu(dout), db);
      expect_close(db, db_ref, 1e-2, "dbias");
    }
  }
}

TEST(CudaParity, GemmBf16) {
  DYBAT_REQUIRE_GPU();
  auto gpu = [](const Tensor& t) { return t.to(DType::BFloat16).to(Device::cuda()); };
  for (auto [ta, tb] : {std::pair{false, false}, std::pair{true, false}, std::pair{false, true}}) {
    SCOPED_TRACE(::testing::Message() << "trans " << ta << tb);
    Tensor a = round_bf16(ta ? rand({70, 37}, 1) : rand({37, 70}, 1));
    Tensor b = round_bf16(tb ? rand({29, 70}, 2) : rand({70, 29}, 2));
    Tensor c0 = round_bf16(rand({37, 29}, 3));
    Tensor ref = c0.clone(), c = gpu(c0);
    gemm(ta, tb, 1.5, a, b, 0.5, ref);
    gemm(ta, tb, 1.5, gpu(a), gpu(b), 0.5, c);
    expect_close(c, ref, 1e-2, "gemm");
  }
  Tensor x = round_bf16(rand({300, 45}, 4)), acc0 = round_bf16(rand({45}, 5));
  Tensor ref = acc0.clone(), acc = gpu(acc0);
  sum_rows_accumulate(x, ref);
  sum_rows_accumulate(gpu(x), acc);
  expect_close(acc, ref, 1e-2, "sum_rows_accumulate");
}
