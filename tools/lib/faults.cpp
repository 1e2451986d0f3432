// Fault injection from the environment (see faults.h).
#include "tools/lib/faults.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "train/preflight.h"

namespace dybat::tools {

namespace {

// The value of `name` as a positive integer (0 when unset or empty).
uint64_t positive_from_env(const char* name, bool allow_zero) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  DYBAT_CHECK(*end == '\0' && v[0] != '-' && (allow_zero || n > 0), name, " must be a ",
              allow_zero ? "number of bytes" : "positive step", ", got '", v, "'");
  return n;
}

}  // namespace

WriteFaultHook write_fault_from_spec(const std::string& spec) {
  std::string name = spec;
  int nth = 1;
  if (auto colon = spec.rfind(':'); colon != std::string::npos) {
    name = spec.substr(0, colon);
    char* end = nullptr;
    const long n = std::strtol(spec.c_str() + colon + 1, &end, 10);
    DYBAT_CHECK(*end == '\0' && n > 0, "DYBAT_FAULT_WRITE: the count after ':' must be a positive number, got '",
                spec, "'");
    nth = static_cast<int>(n);
  }
  DYBAT_CHECK(!name.empty(), "DYBAT_FAULT_WRITE must name a file, got '", spec, "'");
  auto count = std::make_shared<int>(0);
  return [name, nth, count](const std::string& path) {
    if (std::filesystem::path(path).filename() != name) return;
    if (++*count == nth) DYBAT_FAIL("cannot write '", path, "': injected fault (DYBAT_FAULT_WRITE)");
  };
}

FaultPlan install_faults_from_env() {
  FaultPlan plan;
#if defined(DYBAT_FAULT_HOOKS)
  if (const char* spec = std::getenv("DYBAT_FAULT_WRITE"); spec != nullptr && *spec != '\0')
    set_write_fault_hook(write_fault_from_spec(spec));
  if (const char* v = std::getenv("DYBAT_FAULT_FREE_BYTES"); v != nullptr && *v != '\0') {
    const uint64_t bytes = positive_from_env("DYBAT_FAULT_FREE_BYTES", true);
    set_free_space_hook([bytes](const std::string&) { return bytes; });
  }
  plan.kill_at_step = static_cast<int64_t>(positive_from_env("DYBAT_FAULT_KILL_AT_STEP", false));
#endif
  return plan;
}

SweepFaultPlan sweep_faults_from_env() {
  SweepFaultPlan plan;
#if defined(DYBAT_FAULT_HOOKS)
  const char* v = std::getenv("DYBAT_FAULT_SWEEP_KILL");
  if (v == nullptr || *v == '\0') return plan;
  unsigned long run = 0;
  long long step = 0;
  char tail = 0;
  DYBAT_CHECK(std::sscanf(v, "%lu:%lld%c", &run, &step, &tail) == 2 && run > 0 && step > 0,
              "DYBAT_FAULT_SWEEP_KILL='", v, "' is not <run>:<step>");
  plan.kill_run = run;
  plan.kill_at_step = step;
#endif
  return plan;
}

}  // namespace dybat::tools
