// Program runner for the tool tests (see run_util.h).
#include "support/paths.h"
#include "tools/run_util.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "core/error.h"

namespace dybat::test {

std::string program_path(const std::string& name) { return dybat::test::binary_dir() + "/" + name; }

RunResult run_tool(const std::string& name, const std::string& args) {
  const std::string path = program_path(name);
  DYBAT_CHECK(std::filesystem::exists(path), "the program ", path, " is not built (build all targets first)");
  return run_shell("OMP_NUM_THREADS=2 '" + path + "' " + args);
}

RunResult run_shell(const std::string& command) {
  std::string cmd = command + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  DYBAT_CHECK(p, "cannot run ", cmd);
  RunResult r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace dybat::test
