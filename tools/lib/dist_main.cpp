// The programs' guard for runs under mpirun (see dist_main.h).
#include "tools/lib/dist_main.h"

#include <cstdio>
#include <memory>

#include "train/config.h"

namespace dybat::tools {

namespace {

void print_error(const char* name, const DistRun* dist, const char* kind, const std::string& message) {
  const std::string who = dist ? dist->who() : std::string();
  if (who.empty())
    std::fprintf(stderr, "%s: %s: %s\n", name, kind, message.c_str());
  else
    std::fprintf(stderr, "%s: %s (%s): %s\n", name, kind, who.c_str(), message.c_str());
  std::fflush(stderr);
}

}  // namespace

int dist_main_guard(const char* name, const std::function<int(DistRun&)>& body) {
  std::unique_ptr<DistRun> dist;
  auto fail = [&](int code) {
    if (dist && dist->under_mpirun()) dist->abort(code);
    return code;
  };
  try {
    dist = std::make_unique<DistRun>();
    const int code = body(*dist);
    std::fflush(stdout);
    dist->finish();
    return code;
  } catch (const CliExit& e) {
    if (!dist || dist->root()) std::fprintf(e.code == 0 ? stdout : stderr, "%s\n", e.text.c_str());
    std::fflush(stdout);
    if (dist) dist->finish();
    return e.code;
  } catch (const AgreedError& e) {
    if (!dist || dist->root()) print_error(name, nullptr, "error", e.message());
    if (dist) dist->finish();
    return 2;
  } catch (const Error& e) {
    print_error(name, dist.get(), "error", e.message());
    return fail(2);
  } catch (const std::exception& e) {
    print_error(name, dist.get(), "internal error", e.what());
    return fail(1);
  }
}

}  // namespace dybat::tools
