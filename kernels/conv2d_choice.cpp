// The host-side rules of conv2d's cuDNN algorithm choice (see conv2d_choice.h).
#include "kernels/conv2d_choice.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "core/error.h"

namespace dybat {

int conv_algo_count(int direction) {
  using namespace cudnn_algo;
  switch (direction) {
    case kConvForward: return kFwdCount;
    case kConvBackwardData: return kBwdDataCount;
    case kConvBackwardFilter: return kBwdFilterCount;
    default: break;
  }
  DYBAT_FAIL("conv2d algorithms: direction ", direction, " outside [0, 3)");
}

bool conv_algo_is_transform(int direction, int algo) {
  using namespace cudnn_algo;
  switch (direction) {
    case kConvForward:
      return algo == kFwdFft || algo == kFwdFftTiling || algo == kFwdWinograd || algo == kFwdWinogradNonfused;
    case kConvBackwardData:
      return algo == kBwdDataFft || algo == kBwdDataFftTiling || algo == kBwdDataWinograd ||
             algo == kBwdDataWinogradNonfused;
    case kConvBackwardFilter:
      return algo == kBwdFilterFft || algo == kBwdFilterFftTiling || algo == kBwdFilterWinograd ||
             algo == kBwdFilterWinogradNonfused;
    default: break;
  }
  DYBAT_FAIL("conv2d algorithms: direction ", direction, " outside [0, 3)");
}

bool conv_algo_allowed(int direction, int algo) {
  if (algo < 0 || algo >= conv_algo_count(direction)) return false;
  return !(backend_settings().conv_exclude_fft_winograd && conv_algo_is_transform(direction, algo));
}

ConvChoiceConditions current_conv_choice_conditions() {
  const BackendSettings& s = backend_settings();
  ConvChoiceConditions c;
  c.search = s.conv_algo;
  c.workspace_limit_bytes = s.workspace_limit_bytes;
  c.exclude_fft_winograd = s.conv_exclude_fft_winograd;
  return c;
}

namespace {
std::atomic<uint32_t> g_refused{0};  // bit (1 << DType) set: that dtype's choices are refused
uint32_t dtype_bit(DType t) { return uint32_t(1) << static_cast<unsigned>(t); }
}  // namespace

ConvChoiceStamp current_conv_choice_stamp() {
  ConvChoiceStamp s;
  s.conditions = current_conv_choice_conditions();
  s.record_generation = detail::conv2d_record_generation();
  s.refused_dtypes = g_refused.load();
  return s;
}

void set_conv_algorithms_refused(DType dtype, bool refused) {
  if (refused)
    g_refused.fetch_or(dtype_bit(dtype));
  else
    g_refused.fetch_and(~dtype_bit(dtype));
}

bool conv_algorithms_refused(DType dtype) { return (g_refused.load() & dtype_bit(dtype)) != 0; }

ConvNoAlgorithm conv_no_algorithm_action(DType dtype) {
  return dtype == DType::BFloat16 ? ConvNoAlgorithm::RunInFloat32 : ConvNoAlgorithm::Fail;
}

namespace {

struct Notice {
  std::mutex mu;
  bool given = false;
  int64_t count = 0;
  ConvNoticeSink sink;
};

Notice& notice() {
  static Notice* n = new Notice();  // leaked on purpose: convolutions may run until the process ends
  return *n;
}

}  // namespace

bool note_conv_float32_fallback(const std::string& what) {
  Notice& n = notice();
  ConvNoticeSink sink;
  {
    std::lock_guard<std::mutex> lock(n.mu);
    ++n.count;
    if (n.given) return false;
    n.given = true;
    sink = n.sink;
  }
  const std::string message = "dybat: cuDNN offers no bfloat16 algorithm for " + what +
            "; such convolutions run in float32 (operands cast, result cast back to bfloat16). Said once; "
            "later ones are counted, not reported";
  if (sink) {
    sink(message);
  } else {
    std::fprintf(stderr, "%s\n", message.c_str());
  }
  return true;
}

int64_t conv_float32_fallbacks() {
  Notice& n = notice();
  std::lock_guard<std::mutex> lock(n.mu);
  return n.count;
}

ConvNoticeSink set_conv_notice_sink(ConvNoticeSink sink) {
  Notice& n = notice();
  std::lock_guard<std::mutex> lock(n.mu);
  ConvNoticeSink old = std::move(n.sink);
  n.sink = std::move(sink);
  return old;
}

void reset_conv_float32_fallback_notice() {
  Notice& n = notice();
  std::lock_guard<std::mutex> lock(n.mu);
  n.given = false;
  n.count = 0;
}

}  // namespace dybat
