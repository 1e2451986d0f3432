// CUDA conv2d algorithm choice: every direction's choice lands in the record, an imported choice is
// the one used, and measured selection (cudnnFind*Ex) gives correct results and is recorded too. A
// geometry planned before follows later changes of the settings and of the record (each test
// passes whatever ran before it in the process), and a bfloat16 direction without an algorithm
// runs in float32.
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/copy.h"
#include "core/settings.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_choice.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {

// cuDNN's enum values (the test is compiled without cuDNN's headers in CPU-only builds).
constexpr int kImplicitGemm = cudnn_algo::kFwdImplicitGemm;
constexpr int kFmaMath = 3;  // CUDNN_FMA_MATH

// Fixed settings (no TF32; no FFT or Winograd, whose error is above run_and_check's 1e-4), an
// empty record and no fallback notice yet; all restored afterwards. Clearing the record also makes
// geometries planned by earlier tests choose again.
struct SettingsGuard {
  BackendSettings saved = backend_settings();
  SettingsGuard() {
    backend_settings() = BackendSettings{};
    backend_settings().tf32_conv = false;
    backend_settings().deterministic = true;
    backend_settings().conv_exclude_fft_winograd = true;
    clear_conv2d_algorithms();
    reset_conv_float32_fallback_notice();
  }
  ~SettingsGuard() {
    backend_settings() = saved;
    set_conv_algorithms_refused(DType::BFloat16, false);
    set_conv_algorithms_refused(DType::Float32, false);
    clear_conv2d_algorithms();
    reset_conv_float32_fallback_notice();
  }
};

// The record of the one geometry with x's batch size n (key element 10).
ConvAlgoRecord record_for_batch(int64_t n) {
  for (const ConvAlgoRecord& r : conv2d_algorithms())
    if (r.key.size() > 10 && r.key[10] == n) return r;
  ADD_FAILURE() << "no record for batch " << n;
  return {};
}

// Forward and backward of one conv on the GPU in float32 against float64 on the CPU, within
// rtol of the result's scale (1e-4: direct and GEMM-based algorithms; FFT and Winograd need 1e-3).
void run_and_check(int64_t n, int64_t c, int64_t hw, int64_t c_out, uint64_t seed, double rtol = 1e-4) {
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  Tensor x = rand({n, c, hw, hw}, seed, -1, 1, true), w = rand({c_out, c, 3, 3}, seed + 1, -1, 1, true);
  Tensor xg = x.detach().to(DType::Float32).to(Device::cuda()).set_requires_grad(true);
  Tensor wg = w.detach().to(DType::Float32).to(Device::cuda()).set_requires_grad(true);
  Tensor yc = conv2d(x, w, Tensor(), p), yg = conv2d(xg, wg, Tensor(), p);
  Tensor d = rand(yc.shape(), seed + 2);
  yc.backward(d);
  yg.backward(d.to(DType::Float32).to(Device::cuda()));
  for (auto [got, ref] : {std::pair{yg, yc}, std::pair{xg.grad(), x.grad()}, std::pair{wg.grad(), w.grad()}})
    EXPECT_LE(max_abs_diff(got.cpu(), ref), rtol * (1 + max_abs(ref)));
}

}  // namespace

TEST(CudaConv2dAlgorithms, EveryDirectionIsRecorded) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard guard;
  run_and_check(2, 8, 9, 16, 1);
  std::vector<ConvAlgoRecord> recs = conv2d_algorithms();
  ASSERT_EQ(recs.size(), 1u);
  for (int d = 0; d < 3; ++d) {
    EXPECT_GE(recs[0].algo[d], 0) << "direction " << d;
    EXPECT_GE(recs[0].math[d], 0) << "direction " << d;
  }
}

TEST(CudaConv2dAlgorithms, AnImportedChoiceIsUsed) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard guard;
  run_and_check(2, 8, 9, 16, 2);
  ConvAlgoRecord first = conv2d_algorithms().at(0);
  // The same layer with batch 3 (key element 10 is x's batch size): import IMPLICIT_GEMM with FMA
  // math for its forward, a choice cuDNN accepts for every geometry, and check it is kept.
  ConvAlgoRecord other = first;
  ASSERT_EQ(other.key.at(10), 2);
  other.key[10] = 3;
  other.algo[0] = kImplicitGemm;
  other.math[0] = kFmaMath;
  other.algo[1] = other.algo[2] = other.math[1] = other.math[2] = -1;
  import_conv2d_algorithms({other});
  run_and_check(3, 8, 9, 16, 3);
  bool found = false;
  for (const ConvAlgoRecord& r : conv2d_algorithms())
    if (r.key == other.key) {
      found = true;
      EXPECT_EQ(r.algo[0], other.algo[0]);
      EXPECT_EQ(r.math[0], other.math[0]);
      EXPECT_GE(r.algo[1], 0);  // chosen afresh and recorded
      EXPECT_GE(r.algo[2], 0);
    }
  EXPECT_TRUE(found);
}

TEST(CudaConv2dAlgorithms, AnUnusableImportIsChosenAfresh) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard guard;
  run_and_check(2, 8, 9, 16, 4);
  ConvAlgoRecord bad = conv2d_algorithms().at(0);
  bad.key[10] = 5;
  bad.algo[0] = 999;  // no such algorithm
  bad.math[0] = kFmaMath;
  import_conv2d_algorithms({bad});
  run_and_check(5, 8, 9, 16, 5);
  ConvAlgoRecord r = record_for_batch(5);
  EXPECT_EQ(r.key, bad.key);
  EXPECT_NE(r.algo[0], 999);
  EXPECT_GE(r.algo[0], 0);
}

TEST(CudaConv2dAlgorithms, MeasuredSelection) {
  DYBAT_REQUIRE_GPU();
  SettingsGuard guard;
  backend_settings().conv_algo = ConvAlgoSearch::Measure;
  backend_settings().workspace_limit_bytes = size_t(64) << 20;
  run_and_check(4, 16, 12, 32, 6);
  std::vector<ConvAlgoRecord> recs = conv2d_algorithms();
  ASSERT_EQ(recs.size(), 1u);
  for (int d = 0; d < 3; ++d) EXPECT_GE(recs[0].algo[d], 0);
}

TEST(CudaConv2dAlgorithms, ASwitchToMeasuringAfterPlanningIsFollowed) {
  // The geometry is planned by heuristics first; measuring afterwards must time its three
  // directions (one host synchronisation each), not keep the heuristic choices.
  DYBAT_REQUIRE_GPU();
  SettingsGuard guard;
  auto syncs_of = [](auto&& f) {
    const uint64_t before = transfer_counters().syncs;
    f();
    return transfer_counters().syncs - before;
  };
  const uint64_t heuristic = syncs_of([] { run_and_check(2, 8, 9, 16, 7); });
  EXPECT_EQ(syncs_of([] { run_and_check(2, 8, 9, 16, 8); }), heuristic);  // planned: nothing new
  backend_settings().conv_algo = ConvAlgoSearch::Measure;
  EXPECT_EQ(syncs_of([] { run_and_check(2, 8, 9, 16, 9); }), heuristic + 3);
  EXPECT_EQ(syncs_of([] { run_and_check(2, 8, 9, 16, 10); }), heuristic);  // measured once
  ASSERT_EQ(conv2d_algorithms().size(), 1u);
  for (int d = 0; d < 3; ++d) EXPECT_GE(conv2d_algorithms()[0].algo[d], 0);
}

TEST(CudaConv2dAlgorithms, ExcludingFftAndWinogradIsFollowed) {
  // An imported transform-domain forward (FFT or Winograd: cuDNN supports at least one for this
  // 3x3, stride-1 float32 geometry) is used, within the 1e-3 its family needs; once FFT and
  // Winograd are excluded, the planned geometry chooses a direct or GEMM-based algorithm.
  DYBAT_REQUIRE_GPU();
  SettingsGuard guard;
  backend_settings().deterministic = false;
  backend_settings().conv_exclude_fft_winograd = false;
  run_and_check(2, 8, 9, 16, 11, /*rtol=*/1e-3);
  int used = -1;
  for (int algo : {cudnn_algo::kFwdFft, cudnn_algo::kFwdFftTiling, cudnn_algo::kFwdWinogradNonfused,
                   cudnn_algo::kFwdWinograd}) {
    ConvAlgoRecord r = record_for_batch(2);
    r.algo[0] = algo;
    r.math[0] = kFmaMath;
    import_conv2d_algorithms({r});
    run_and_check(2, 8, 9, 16, 12, /*rtol=*/1e-3);
    if (record_for_batch(2).algo[0] == algo) {  // accepted (a rejected import is chosen afresh)
      used = algo;
      break;
    }
  }
  ASSERT_TRUE(conv_algo_is_transform(kConvForward, used)) << "cuDNN took no FFT or Winograd forward";
  backend_settings().conv_exclude_fft_winograd = true;
  run_and_check(2, 8, 9, 16, 13);
  const ConvAlgoRecord after = record_for_batch(2);
  for (int d = 0; d < 3; ++d) EXPECT_FALSE(conv_algo_is_transform(d, after.algo[d])) << "direction " << d;
}

TEST(CudaConv2dAlgorithms, Bf16WithoutAnAlgorithmRunsInFloat32) {
  // cuDNN's legacy API may offer no bfloat16 engine for a grouped or depthwise NCHW convolution;
  // refusing every bfloat16 algorithm makes that happen here, for all three directions.
  DYBAT_REQUIRE_GPU();
  SettingsGuard guard;
  std::vector<std::string> said;
  ConvNoticeSink old = set_conv_notice_sink([&](const std::string& m) { said.push_back(m); });
  set_conv_algorithms_refused(DType::BFloat16, true);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  p.groups = 8;  // depthwise
  Tensor x = rand({2, 8, 9, 9}, 20), w = rand({8, 1, 3, 3}, 21), b = rand({8}, 22), dout = rand({2, 8, 9, 9}, 23);
  auto bf = [](const Tensor& t) { return t.to(DType::BFloat16).to(Device::cuda()); };
  auto close = [](const Tensor& got, const Tensor& ref, const char* what) {
    EXPECT_LE(max_abs_diff(got.to(DType::Float32).cpu(), ref), 2e-2 * (1 + max_abs(ref))) << what;
  };
  // References from the bf16-rounded operands, in float64 on the CPU.
  auto rounded = [](const Tensor& t) { return t.to(DType::BFloat16).to(DType::Float64); };
  Tensor xr = rounded(x), wr = rounded(w), br = rounded(b), dr = rounded(dout);
  Tensor out_ref = Tensor::empty(dout.shape(), DType::Float64), dx_ref = x.zeros_like();
  Tensor dw_ref = Tensor::full(w.shape(), 0.5, DType::Float64);
  conv2d_forward(xr, wr, br, p, out_ref);
  conv2d_backward_input(dr, wr, p, dx_ref);
  conv2d_backward_weight(dr, xr, p, dw_ref);

  Tensor out = Tensor::empty(dout.shape(), DType::BFloat16, Device::cuda());
  conv2d_forward(bf(x), bf(w), bf(b), p, out);
  close(out, out_ref, "forward");
  Tensor dx = bf(Tensor::full(x.shape(), 1e3, DType::Float64));  // assigned: the fill must go
  conv2d_backward_input(bf(dout), bf(w), p, dx);
  close(dx, dx_ref, "dx");
  Tensor dw = bf(Tensor::full(w.shape(), 0.5, DType::Float64));  // accumulated onto 0.5
  conv2d_backward_weight(bf(dout), bf(x), p, dw);
  close(dw, dw_ref, "dweight");
  EXPECT_EQ(said.size(), 1u);  // said once
  EXPECT_EQ(conv_float32_fallbacks(), 3);
  set_conv_notice_sink(old);

  // Float32 has no fallback: the error names the direction and the settings.
  set_conv_algorithms_refused(DType::Float32, true);
  std::string msg = test::error_of([&] {
    Tensor o = Tensor::empty(dout.shape(), DType::Float32, Device::cuda());
    conv2d_forward(x.to(DType::Float32).to(Device::cuda()), w.to(DType::Float32).to(Device::cuda()), Tensor(), p, o);
  });
  EXPECT_NE(msg.find("no usable forward algorithm"), std::string::npos) << msg;
}
