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

// A run folder's results without the timing columns (elapsed_s, img_per_s): trace.csv,
// metrics.csv, metrics.jsonl, and the final model's bytes; equal for runs that computed the same.
std::string run_results(const std::string& dir);

// True when `mpirun` is on the PATH.
bool mpirun_available();
// Runs `mpirun --oversubscribe <spec>` (spec: "-np N PROGRAM ARGS", or MPMD parts joined by " : ")
// with one OpenMP thread per rank and the settings mpirun needs as root in a container
// (OMPI_ALLOW_RUN_AS_ROOT=1, OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1), under `timeout limit_s` as a
// safety net: exit code 124 means it hung.
RunResult run_mpirun(const std::string& spec, int limit_s);

}  // namespace dybat::test
