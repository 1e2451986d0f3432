// The libFuzzer entry point of one target; the build compiles it once per target with
// DYBAT_FUZZ_TARGET set to the target's name (fuzz_<name>).
#include <cstdio>
#include <cstdlib>

#include "fuzz/targets.h"

#ifndef DYBAT_FUZZ_TARGET
#error "compile with -DDYBAT_FUZZ_TARGET=\"name\""
#endif

namespace {
const dybat::fuzz::Target* target() {
  static const dybat::fuzz::Target* t = [] {
    const dybat::fuzz::Target* found = dybat::fuzz::find_target(DYBAT_FUZZ_TARGET);
    if (found == nullptr) {
      std::fprintf(stderr, "fuzz: no target named '%s'\n", DYBAT_FUZZ_TARGET);
      std::abort();
    }
    return found;
  }();
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    target()->run(data, size);
  } catch (const dybat::fuzz::PropertyFailure& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz target '%s': unexpected exception (not dybat::Error): %s\n", DYBAT_FUZZ_TARGET,
                 e.what());
    std::abort();
  }
  return 0;
}
