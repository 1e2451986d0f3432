// The capture-safety scope (see capture.h).
#include "core/capture.h"

#include "core/error.h"

namespace dybat {

namespace {
thread_local bool g_active = false;
thread_local std::string g_what;
}  // namespace

CaptureScope::CaptureScope(std::string what) : prev_(g_what), was_active_(g_active) {
  g_active = true;
  g_what = std::move(what);
}

CaptureScope::~CaptureScope() {
  g_active = was_active_;
  g_what = prev_;
}

bool capture_active() { return g_active; }

void capture_check(const char* operation) {
  DYBAT_CHECK(!g_active, operation, " while capturing ", g_what,
              " into a CUDA graph: a graph holds only work queued on the device, so this would not happen on the "
              "replays (keep host reads, synchronisations, host-device copies and new allocations out of the "
              "captured work)");
}

}  // namespace dybat
