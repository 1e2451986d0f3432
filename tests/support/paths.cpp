// Test file locations: compile-time defaults, overridable by environment variables.
#include "support/paths.h"

#include <cstdlib>

namespace dybat::test {

namespace {
std::string from_env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}
}  // namespace

std::string test_data_dir() { return from_env("DYBAT_TEST_DATA", DYBAT_TEST_DATA); }
std::string shared_dir() { return from_env("DYBAT_SHARED_DIR", DYBAT_SHARED_DIR); }
std::string source_dir() { return from_env("DYBAT_SOURCE_DIR", DYBAT_SOURCE_DIR); }
std::string binary_dir() { return from_env("DYBAT_BINARY_DIR", DYBAT_BINARY_DIR); }

}  // namespace dybat::test
