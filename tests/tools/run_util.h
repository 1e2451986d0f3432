// Runs a built program of tools/ from a test and captures its output and exit code.
#pragma once

#include <string>

namespace dybat::test {

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// The path of built program `name` (DYBAT_BINARY_DIR/name).
std::string program_path(const std::string& name);
// Runs `program_path(name) + " " + args` through the shell.
RunResult run_tool(const std::string& name, const std::string& args);
// Runs a shell command line, stdout and stderr together.
RunResult run_shell(const std::string& command);

}  // namespace dybat::test
