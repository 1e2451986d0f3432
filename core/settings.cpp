// Process-wide backend settings (see settings.h).
#include "core/settings.h"

namespace dybat {

BackendSettings& backend_settings() {
  static BackendSettings s;
  return s;
}

}  // namespace dybat
