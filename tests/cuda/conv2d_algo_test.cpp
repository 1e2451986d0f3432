// CUDA conv2d algorithm choice: every direction's choice lands in the record, an imported choice is
// the one used, and measured selection (cudnnFind*Ex) gives correct results and is recorded too.
#include "core/autograd.h"
#include "core/settings.h"
#include "kernels/conv2d.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::max_abs;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {

// cuDNN's enum values (the test is compiled without cuDNN's headers in CPU-only builds).
constexpr int kImplicitGemm = 0;  // CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM
constexpr int kFmaMath = 3;       // CUDNN_FMA_MATH

struct SettingsGuard {
  BackendSettings saved = backend_settings();
  SettingsGuard() {
    backend_settings().tf32_conv = false;
    backend_settings().deterministic = true;
    clear_conv2d_algorithms();
  }
  ~SettingsGuard() {
    backend_settings() = saved;
    clear_conv2d_algorithms();
  }
};

// Forward and backward of one conv on the GPU in float32 against float64 on the CPU.
void run_and_check(int64_t n, int64_t c, int64_t hw, int64_t c_out, uint64_t seed) {
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
    EXPECT_LE(max_abs_diff(got.cpu(), ref), 1e-4 * (1 + max_abs(ref)));
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
  for (const ConvAlgoRecord& r : conv2d_algorithms()) {
    if (r.key == bad.key) {
      EXPECT_NE(r.algo[0], 999);
    }
  }
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
