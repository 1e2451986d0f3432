// Process-wide backend settings (see settings.h).
#include "core/settings.h"

#include <cstring>

#include "core/error.h"

namespace dybat {

BackendSettings& backend_settings() {
  static BackendSettings s;
  return s;
}

ConvAlgoSearch conv_algo_search_from_name(const char* name) {
  if (std::strcmp(name, "heuristic") == 0) return ConvAlgoSearch::Heuristic;
  if (std::strcmp(name, "measure") == 0) return ConvAlgoSearch::Measure;
  DYBAT_FAIL("unknown convolution algorithm search '", name, "' (expected heuristic or measure)");
}

const char* conv_algo_search_name(ConvAlgoSearch s) {
  return s == ConvAlgoSearch::Measure ? "measure" : "heuristic";
}

}  // namespace dybat
