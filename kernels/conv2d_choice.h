// The host-side rules of conv2d's cuDNN algorithm choice, apart from cuDNN so that the CPU tests
// check them (kernels/conv2d_plan.cu applies them):
//   - which algorithm ids the settings allow (FFT and Winograd excluded on request);
//   - when a cached choice is stale: a plan keeps, per direction, the stamp of the settings and of
//     the record of choices (conv2d.h) it was made under, and chooses again when they differ;
//   - which recorded choices a new choice honours;
//   - what happens when cuDNN offers no usable algorithm: bfloat16 runs that layer's direction in
//     float32 (said once per process), other dtypes fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "core/settings.h"

namespace dybat {

// The three directions, as conv2d.cu and the record number them.
constexpr int kConvForward = 0, kConvBackwardData = 1, kConvBackwardFilter = 2;

// cuDNN's algorithm ids (cudnnConvolutionFwdAlgo_t, ...BwdDataAlgo_t, ...BwdFilterAlgo_t of
// cuDNN 9; kernels/conv2d_plan.cu checks them against cuDNN's headers when it compiles).
namespace cudnn_algo {
constexpr int kFwdImplicitGemm = 0, kFwdImplicitPrecompGemm = 1, kFwdGemm = 2, kFwdDirect = 3, kFwdFft = 4,
              kFwdFftTiling = 5, kFwdWinograd = 6, kFwdWinogradNonfused = 7, kFwdCount = 8;
constexpr int kBwdData0 = 0, kBwdData1 = 1, kBwdDataFft = 2, kBwdDataFftTiling = 3, kBwdDataWinograd = 4,
              kBwdDataWinogradNonfused = 5, kBwdDataCount = 6;
constexpr int kBwdFilter0 = 0, kBwdFilter1 = 1, kBwdFilterFft = 2, kBwdFilter3 = 3, kBwdFilterWinograd = 4,
              kBwdFilterWinogradNonfused = 5, kBwdFilterFftTiling = 6, kBwdFilterCount = 7;
}  // namespace cudnn_algo

// The number of algorithm ids of a direction (throws for a direction outside [0, 3)).
int conv_algo_count(int direction);
// True for the FFT and Winograd algorithms (fused or not) of `direction`: the transformed-domain
// ones, whose float32 error is about 1e-5 to 1e-4 relative (see BackendSettings).
bool conv_algo_is_transform(int direction, int algo);
// Whether the current settings let `direction` use `algo`: a valid id, and not a transform-domain
// algorithm under backend_settings().conv_exclude_fft_winograd.
bool conv_algo_allowed(int direction, int algo);

// The settings a choice depends on beyond its geometry key (dtype, math mode and the determinism
// flag are in the key): how to search, the workspace limit, and the FFT/Winograd exclusion.
struct ConvChoiceConditions {
  ConvAlgoSearch search = ConvAlgoSearch::Heuristic;
  size_t workspace_limit_bytes = 0;
  bool exclude_fft_winograd = false;
  bool operator==(const ConvChoiceConditions& o) const {
    return search == o.search && workspace_limit_bytes == o.workspace_limit_bytes &&
           exclude_fft_winograd == o.exclude_fft_winograd;
  }
  bool operator!=(const ConvChoiceConditions& o) const { return !(*this == o); }
};
ConvChoiceConditions current_conv_choice_conditions();

// What a cached choice was made under: the conditions, and the generation of the record of
// choices, which clear_conv2d_algorithms() and import_conv2d_algorithms() advance (storing a new
// choice does not). A plan whose stamp differs from current_conv_choice_stamp() chooses again.
struct ConvChoiceStamp {
  ConvChoiceConditions conditions;
  uint64_t record_generation = 0;
  uint32_t refused_dtypes = 0;  // the fault injection below, one bit per DType
  bool operator==(const ConvChoiceStamp& o) const {
    return conditions == o.conditions && record_generation == o.record_generation &&
           refused_dtypes == o.refused_dtypes;
  }
  bool operator!=(const ConvChoiceStamp& o) const { return !(*this == o); }
};
ConvChoiceStamp current_conv_choice_stamp();
namespace detail {
uint64_t conv2d_record_generation();  // kept with the record, in kernels/conv2d.cpp
}  // namespace detail

// What conv2d does for a direction of a geometry that cuDNN offers no usable algorithm for (none
// qualifies under the settings, or none exists: the legacy API may have no bfloat16 engine for a
// grouped or depthwise NCHW convolution). Fail: throw. RunInFloat32: cast the operands to float32,
// run that direction in float32 (under the float32 settings: TF32 as tf32_conv says), cast the
// result back (bfloat16 only: its float32 accumulation loses nothing by it).
enum class ConvNoAlgorithm { Fail, RunInFloat32 };
ConvNoAlgorithm conv_no_algorithm_action(DType dtype);

// Fault injection for tests: while refused, every choice for `dtype` finds no usable algorithm, as
// if cuDNN offered none, so the path above runs on any GPU. Changes the stamp: plans choose again.
void set_conv_algorithms_refused(DType dtype, bool refused);
bool conv_algorithms_refused(DType dtype);

// The notice of a float32 fallback: `what` describes the direction and geometry. The first call in
// the process passes a message naming it to the notice sink (stderr unless set) and returns true;
// later calls count and return false.
bool note_conv_float32_fallback(const std::string& what);
// How many fallbacks were noted since the last reset (for tests and summaries).
int64_t conv_float32_fallbacks();
using ConvNoticeSink = std::function<void(const std::string&)>;
// Replaces the sink (an empty one restores stderr) and returns the previous one; for tests.
ConvNoticeSink set_conv_notice_sink(ConvNoticeSink sink);
// Forgets that the notice was given and zeroes the count; for tests.
void reset_conv_float32_fallback_notice();

}  // namespace dybat
