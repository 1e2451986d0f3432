// Program runner for the tool tests (see run_util.h).
#include "support/run_util.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "support/paths.h"
#include "train/files.h"

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

std::string run_results(const std::string& dir) {
  std::string out = read_file(dir + "/trace.csv");
  std::istringstream csv(read_file(dir + "/metrics.csv"));
  for (std::string line; std::getline(csv, line);) {
    for (int cut = 0; cut < 2; ++cut) line = line.substr(0, line.rfind(','));
    out += line + "\n";
  }
  std::istringstream jsonl(read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(jsonl, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    j.erase("elapsed_s");
    j.erase("img_per_s");
    out += j.dump() + "\n";
  }
  return out + read_file(dir + "/model.safetensors");
}

bool mpirun_available() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

RunResult run_mpirun(const std::string& spec, int limit_s) {
  // In the sanitizer build the programs under mpirun run without the leak check (other checks
  // stay on): Open MPI keeps allocations until exit on purpose and unloads its components first,
  // so their stacks cannot be named for a suppression. The same code's leaks are checked in the
  // one-process tests.
  return run_shell("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
                   "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" timeout -k 10 " +
                   std::to_string(limit_s) + " mpirun --oversubscribe " + spec);
}

}  // namespace dybat::test
