// Fault injection from the environment (tools/lib/faults.h): the write-fault spec fails exactly
// the n-th write of the named file, malformed values are refused naming the variable, and the
// variables reach the library's hooks only through install_faults_from_env.
#include "tools/lib/faults.h"

#include <cstdlib>
#include <filesystem>

#include "support/test_util.h"
#include "support/train_util.h"
#include "train/preflight.h"

using namespace dybat;

namespace {
// Sets an environment variable for the scope of one test.
struct EnvVar {
  const char* name;
  EnvVar(const char* n, const char* v) : name(n) { ::setenv(n, v, 1); }
  ~EnvVar() { ::unsetenv(name); }
};
}  // namespace

TEST(Faults, WriteSpecFailsTheNthWriteOfThatFile) {
  WriteFaultHook hook = tools::write_fault_from_spec("x.txt:2");
  EXPECT_NO_THROW(hook("/a/x.txt"));
  EXPECT_NO_THROW(hook("/a/y.txt"));
  EXPECT_NO_THROW(hook("/a/x.txt.bak"));
  EXPECT_THROW(hook("/b/x.txt"), Error);
  EXPECT_NO_THROW(hook("/a/x.txt"));  // only the second one
  WriteFaultHook first = tools::write_fault_from_spec("state.safetensors");
  EXPECT_THROW(first("/run/state.safetensors"), Error);
  for (const char* bad : {"x.txt:0", "x.txt:two", ":3", "x.txt:-1"})
    EXPECT_THROW(tools::write_fault_from_spec(bad), Error) << bad;
}

TEST(Faults, EnvironmentReachesTheLibraryHooks) {
  std::string dir = test::temp_dir("faults_env");
  {
    EnvVar w("DYBAT_FAULT_WRITE", "x.txt"), f("DYBAT_FAULT_FREE_BYTES", "12345"),
        k("DYBAT_FAULT_KILL_AT_STEP", "7");
    EXPECT_EQ(tools::install_faults_from_env().kill_at_step, 7);
  }
  EXPECT_EQ(free_bytes(dir), 12345u);
  EXPECT_THROW(write_file_atomic(dir + "/x.txt", "1"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.txt"));
  set_write_fault_hook(nullptr);
  set_free_space_hook(nullptr);
  EXPECT_NE(free_bytes(dir), 12345u);
  EXPECT_EQ(tools::install_faults_from_env().kill_at_step, 0);  // nothing set: nothing installed
  EXPECT_NO_THROW(write_file_atomic(dir + "/x.txt", "1"));
  for (auto [name, value] : {std::pair{"DYBAT_FAULT_KILL_AT_STEP", "0"}, {"DYBAT_FAULT_KILL_AT_STEP", "x"},
                             {"DYBAT_FAULT_FREE_BYTES", "-5"}, {"DYBAT_FAULT_FREE_BYTES", "1MB"}}) {
    EnvVar v(name, value);
    std::string msg = test::error_of([] { tools::install_faults_from_env(); });
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
  set_write_fault_hook(nullptr);
  set_free_space_hook(nullptr);
  std::filesystem::remove_all(dir);
}
