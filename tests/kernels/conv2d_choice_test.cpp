// The host-side rules of conv2d's cuDNN algorithm choice (kernels/conv2d_choice.h): which ids are
// the FFT and Winograd families and when the settings exclude them, when a cached choice goes
// stale, which recorded choices a new choice honours, and the bfloat16 fallback with its notice.
// The CUDA side that applies them is tested in tests/cuda/conv2d_algo_test.cpp.
#include "kernels/conv2d_choice.h"

#include <string>
#include <vector>

#include "core/settings.h"
#include "kernels/conv2d.h"
#include "support/test_util.h"

using namespace dybat;

namespace {

// Restores the backend settings, the record and the fallback notice around a test.
struct Clean {
  BackendSettings saved = backend_settings();
  Clean() {
    clear_conv2d_algorithms();
    reset_conv_float32_fallback_notice();
  }
  ~Clean() {
    backend_settings() = saved;
    clear_conv2d_algorithms();
    reset_conv_float32_fallback_notice();
    for (DType t : {DType::Float32, DType::Float64, DType::BFloat16}) set_conv_algorithms_refused(t, false);
  }
};

}  // namespace

TEST(Conv2dChoice, TransformFamiliesAreTheFftAndWinogradIds) {
  using namespace cudnn_algo;
  auto transforms = [](int d) {
    std::vector<int> ids;
    for (int a = 0; a < conv_algo_count(d); ++a)
      if (conv_algo_is_transform(d, a)) ids.push_back(a);
    return ids;
  };
  EXPECT_EQ(transforms(kConvForward), (std::vector<int>{kFwdFft, kFwdFftTiling, kFwdWinograd, kFwdWinogradNonfused}));
  EXPECT_EQ(transforms(kConvBackwardData), (std::vector<int>{2, 3, 4, 5}));
  EXPECT_EQ(transforms(kConvBackwardFilter), (std::vector<int>{2, 4, 5, 6}));
  EXPECT_EQ(conv_algo_count(kConvForward), 8);
  EXPECT_EQ(conv_algo_count(kConvBackwardData), 6);
  EXPECT_EQ(conv_algo_count(kConvBackwardFilter), 7);
  EXPECT_THROW(conv_algo_count(3), Error);
  EXPECT_THROW(conv_algo_is_transform(-1, 0), Error);
}

TEST(Conv2dChoice, TheExclusionSettingFiltersTheTransformFamilies) {
  Clean clean;
  for (int d = 0; d < 3; ++d) {
    EXPECT_FALSE(conv_algo_allowed(d, -1));
    EXPECT_FALSE(conv_algo_allowed(d, conv_algo_count(d)));  // e.g. a garbled imported id
    backend_settings().conv_exclude_fft_winograd = false;
    for (int a = 0; a < conv_algo_count(d); ++a) EXPECT_TRUE(conv_algo_allowed(d, a)) << d << " " << a;
    backend_settings().conv_exclude_fft_winograd = true;
    for (int a = 0; a < conv_algo_count(d); ++a)
      EXPECT_EQ(conv_algo_allowed(d, a), !conv_algo_is_transform(d, a)) << d << " " << a;
  }
  // The direct and GEMM-based ones stay: every direction keeps a choice.
  EXPECT_TRUE(conv_algo_allowed(kConvForward, cudnn_algo::kFwdImplicitGemm));
  EXPECT_TRUE(conv_algo_allowed(kConvBackwardData, cudnn_algo::kBwdData1));
  EXPECT_TRUE(conv_algo_allowed(kConvBackwardFilter, cudnn_algo::kBwdFilter1));
}

TEST(Conv2dChoice, TheStampFollowsTheSettingsAndTheRecord) {
  // A plan chooses again when the stamp differs from the one it chose under.
  Clean clean;
  const ConvChoiceStamp s0 = current_conv_choice_stamp();
  EXPECT_EQ(current_conv_choice_stamp(), s0);
  backend_settings().conv_algo = ConvAlgoSearch::Measure;
  EXPECT_NE(current_conv_choice_stamp(), s0);
  backend_settings().conv_algo = ConvAlgoSearch::Heuristic;
  EXPECT_EQ(current_conv_choice_stamp(), s0);
  backend_settings().workspace_limit_bytes = 1 << 20;
  EXPECT_NE(current_conv_choice_stamp(), s0);
  backend_settings().workspace_limit_bytes = clean.saved.workspace_limit_bytes;
  backend_settings().conv_exclude_fft_winograd = !clean.saved.conv_exclude_fft_winograd;
  EXPECT_NE(current_conv_choice_stamp(), s0);
  backend_settings().conv_exclude_fft_winograd = clean.saved.conv_exclude_fft_winograd;
  // TF32 and determinism are part of the plan's key instead: a different plan, not a new stamp.
  backend_settings().tf32_conv = !backend_settings().tf32_conv;
  backend_settings().deterministic = !backend_settings().deterministic;
  EXPECT_EQ(current_conv_choice_stamp(), s0);
  backend_settings() = clean.saved;

  // Storing a choice keeps the stamp (other plans stay valid); clearing or importing advances it.
  detail::store_conv2d_algorithm({0, 3, 1}, kConvForward, 1, 3);
  EXPECT_EQ(current_conv_choice_stamp(), s0);
  clear_conv2d_algorithms();
  const ConvChoiceStamp s1 = current_conv_choice_stamp();
  EXPECT_NE(s1, s0);
  ConvAlgoRecord rec;
  rec.key = {0, 3, 1};
  rec.algo[0] = 0, rec.math[0] = 3;
  import_conv2d_algorithms({rec});
  EXPECT_NE(current_conv_choice_stamp(), s1);
  const ConvChoiceStamp s2 = current_conv_choice_stamp();
  set_conv_algorithms_refused(DType::BFloat16, true);
  EXPECT_NE(current_conv_choice_stamp(), s2);
  set_conv_algorithms_refused(DType::BFloat16, false);
  EXPECT_EQ(current_conv_choice_stamp(), s2);
}

TEST(Conv2dChoice, ChoicesMadeHereAreHonouredOnlyUnderTheirConditions) {
  Clean clean;
  const std::vector<int64_t> key = {0, 3, 1, 5}, other = {0, 3, 1, 6};
  int algo = -1, math = -1;
  detail::store_conv2d_algorithm(key, kConvForward, 1, 3);  // chosen by heuristics
  ASSERT_TRUE(detail::find_conv2d_algorithm(key, kConvForward, algo, math));
  EXPECT_EQ(algo, 1);
  // A heuristic choice is no answer to a request to measure, nor one made under another limit.
  backend_settings().conv_algo = ConvAlgoSearch::Measure;
  EXPECT_FALSE(detail::find_conv2d_algorithm(key, kConvForward, algo, math));
  backend_settings().conv_algo = ConvAlgoSearch::Heuristic;
  backend_settings().workspace_limit_bytes = 12345;
  EXPECT_FALSE(detail::find_conv2d_algorithm(key, kConvForward, algo, math));
  backend_settings().workspace_limit_bytes = clean.saved.workspace_limit_bytes;
  EXPECT_TRUE(detail::find_conv2d_algorithm(key, kConvForward, algo, math));
  // It stays listed (a checkpoint keeps what the run used) whatever the settings.
  backend_settings().conv_algo = ConvAlgoSearch::Measure;
  EXPECT_EQ(conv2d_algorithms().size(), 1u);

  // An imported choice (a resumed run's) is honoured under any settings.
  ConvAlgoRecord rec;
  rec.key = other;
  rec.algo[2] = 5, rec.math[2] = 1;
  import_conv2d_algorithms({rec});
  ASSERT_TRUE(detail::find_conv2d_algorithm(other, kConvBackwardFilter, algo, math));
  EXPECT_EQ(algo, 5);
  EXPECT_EQ(math, 1);
  backend_settings().conv_algo = ConvAlgoSearch::Heuristic;
  EXPECT_TRUE(detail::find_conv2d_algorithm(other, kConvBackwardFilter, algo, math));
  // Chosen afresh here (the import was unusable), it is a choice made here again.
  detail::store_conv2d_algorithm(other, kConvBackwardFilter, 1, 3);
  backend_settings().conv_algo = ConvAlgoSearch::Measure;
  EXPECT_FALSE(detail::find_conv2d_algorithm(other, kConvBackwardFilter, algo, math));
}

TEST(Conv2dChoice, Bfloat16WithoutAnAlgorithmRunsInFloat32) {
  EXPECT_EQ(conv_no_algorithm_action(DType::BFloat16), ConvNoAlgorithm::RunInFloat32);
  EXPECT_EQ(conv_no_algorithm_action(DType::Float32), ConvNoAlgorithm::Fail);
  EXPECT_EQ(conv_no_algorithm_action(DType::Float64), ConvNoAlgorithm::Fail);
  Clean clean;
  EXPECT_FALSE(conv_algorithms_refused(DType::BFloat16));
  set_conv_algorithms_refused(DType::BFloat16, true);
  EXPECT_TRUE(conv_algorithms_refused(DType::BFloat16));
  EXPECT_FALSE(conv_algorithms_refused(DType::Float32));
}

TEST(Conv2dChoice, TheFallbackIsSaidOnce) {
  Clean clean;
  std::vector<std::string> said;
  ConvNoticeSink old = set_conv_notice_sink([&](const std::string& m) { said.push_back(m); });
  EXPECT_TRUE(note_conv_float32_fallback("the input gradient of a depthwise convolution"));
  EXPECT_FALSE(note_conv_float32_fallback("the weight gradient of a depthwise convolution"));
  EXPECT_FALSE(note_conv_float32_fallback("the input gradient of a depthwise convolution"));
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("the input gradient of a depthwise convolution"), std::string::npos) << said[0];
  EXPECT_NE(said[0].find("run in float32"), std::string::npos) << said[0];
  EXPECT_EQ(conv_float32_fallbacks(), 3);
  reset_conv_float32_fallback_notice();
  EXPECT_EQ(conv_float32_fallbacks(), 0);
  EXPECT_TRUE(note_conv_float32_fallback("again"));
  EXPECT_EQ(said.size(), 2u);
  set_conv_notice_sink(old);
}
