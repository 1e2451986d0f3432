// dlopen of the communication plugins (see dist_plugins.h). Where a plugin is looked for, in order:
// $DYBAT_PLUGIN_DIR, the folder of the running program (a build folder, or a copy of one), and
// the build folder this library was built in.
#include "train/dist_plugins.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"

namespace dybat {

namespace {

std::vector<std::string> plugin_folders() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("DYBAT_PLUGIN_DIR"); d && *d) dirs.push_back(d);
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().string());
#ifdef DYBAT_PLUGIN_BUILD_DIR
  dirs.push_back(DYBAT_PLUGIN_BUILD_DIR);
#endif
  return dirs;
}

// The symbol `entry` of the first `file` found; throws listing the folders tried.
const void* load(const char* file, const char* entry, const char* what, const char* how) {
  std::string tried, last_error;
  for (const std::string& dir : plugin_folders()) {
    const std::string path = dir + "/" + file;
    tried += (tried.empty() ? "" : ", ") + dir;
    if (!std::filesystem::exists(path)) continue;
    // RTLD_GLOBAL: Open MPI loads components of its own that expect its symbols to be global.
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      last_error = ::dlerror();
      continue;
    }
    using Entry = const void* (*)();
    auto fn = reinterpret_cast<Entry>(::dlsym(h, entry));
    DYBAT_CHECK(fn, file, " in ", dir, " has no ", entry, " (a plugin of another version?)");
    return fn();
  }
  DYBAT_FAIL(what, " needs the plugin ", file, ", which ",
             last_error.empty() ? "was not found (looked in: " + tried + ")" : "could not be loaded: " + last_error,
             "; ", how);
}

template <class Api>
const Api& check_version(const void* p, const char* file) {
  const Api* api = static_cast<const Api*>(p);
  DYBAT_CHECK(api && api->version == DYBAT_DIST_PLUGIN_VERSION, file, " has interface version ",
              api ? api->version : -1, ", this program ", DYBAT_DIST_PLUGIN_VERSION, "; rebuild both together");
  return *api;
}

std::once_flag g_mpi_once, g_nccl_once;
const DybatMpiApi* g_mpi = nullptr;
const DybatNcclApi* g_nccl = nullptr;

}  // namespace

int plugin_dtype(DType t, const char* op) {
  switch (t) {
    case DType::Float32:
      return DYBAT_DIST_F32;
    case DType::Float64:
      return DYBAT_DIST_F64;
    case DType::Int64:
      return DYBAT_DIST_I64;
    default:
      DYBAT_FAIL(op, ": the collectives sum float32, float64 and int64 tensors, not ", dtype_name(t));
  }
}

const DybatMpiApi& mpi_plugin() {
  std::call_once(g_mpi_once, [] {
    g_mpi = &check_version<DybatMpiApi>(
        load("libdybat_mpi.so", "dybat_mpi_api", "a launch by mpirun",
             "build with Open MPI installed (apt-get install openmpi-bin libopenmpi-dev; DYBAT_MPI=ON) and keep "
             "the plugin next to the program"),
        "libdybat_mpi.so");
  });
  return *g_mpi;
}

bool mpi_plugin_loaded() { return g_mpi != nullptr; }

const DybatNcclApi& nccl_plugin() {
  std::call_once(g_nccl_once, [] {
    g_nccl = &check_version<DybatNcclApi>(
        load("libdybat_nccl.so", "dybat_nccl_api", "GPU communication (NCCL)",
             "build with CUDA and NCCL found (DYBAT_NCCL=ON; NCCL comes with the CUDA toolkit) and keep the plugin "
             "next to the program"),
        "libdybat_nccl.so");
  });
  return *g_nccl;
}

}  // namespace dybat
