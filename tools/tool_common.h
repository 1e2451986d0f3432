// Helpers shared by the programs in tools/ (header-only: every tools/*.cpp is its own program):
// number and duration formatting, and the guard that turns errors into exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/config.h"

namespace dybat::tools {

template <class... A>
std::string fmt(const char* f, A... a) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

// "42s", "3m05s", "2h07m", "1d04h"
inline std::string duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--";
  long long t = std::llround(s);
  if (s < 10) return fmt("%.1fs", s);
  if (t < 60) return fmt("%llds", t);
  if (t < 3600) return fmt("%lldm%02llds", t / 60, t % 60);
  if (t < 86400) return fmt("%lldh%02lldm", t / 3600, (t % 3600) / 60);
  return fmt("%lldd%02lldh", t / 86400, (t % 86400) / 3600);
}

inline std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

inline std::string now_text() {
  char buf[32];
  std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::localtime(&now));
  return buf;
}

// True for the errors of a failed device allocation: the caching allocator's "out of GPU memory"
// and CUDA, cuBLAS or cuDNN allocation failures.
inline bool is_out_of_memory(const Error& e) {
  const std::string& m = e.message();
  for (const char* s :
       {"out of GPU memory", "cudaErrorMemoryAllocation", "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED"})
    if (m.find(s) != std::string::npos) return true;
  return false;
}

// Parses a program's command line; --help and command-line errors throw CliExit for main_guard
// (the help text and exit 0, or the error and exit 2).
template <class Parse>
void parse_or_exit(CLI::App& app, Parse&& parse) {
  try {
    parse();
  } catch (const CLI::CallForHelp&) {
    throw CliExit{0, app.help()};
  } catch (const CLI::ParseError& e) {
    throw CliExit{2, std::string(e.what()) + "\nRun with --help for the options."};
  }
}
inline void parse_command_line(CLI::App& app, int argc, char** argv) {
  parse_or_exit(app, [&] { app.parse(argc, argv); });
}
// `args`: the arguments after the program name, in order.
inline void parse_command_line(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
  parse_or_exit(app, [&] { app.parse(args); });
}

// Runs a program body: --help and command-line errors exit as CLI11 says (0 / 2), a dybat::Error
// prints "<name>: error: <message>" and exits 2, anything else exits 1.
inline int main_guard(const char* name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const CliExit& e) {
    std::fprintf(e.code == 0 ? stdout : stderr, "%s\n", e.text.c_str());
    return e.code;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.message().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace dybat::tools
