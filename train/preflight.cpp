// Output-folder checks before training (see preflight.h).
#include "train/preflight.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "core/error.h"

namespace fs = std::filesystem;

namespace dybat {

namespace {

// `dir` itself when it exists, else its nearest existing ancestor ("." for a relative path whose
// first component is missing).
fs::path nearest_existing(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  std::error_code ec;
  while (!p.empty() && !fs::exists(p, ec)) {
    fs::path parent = p.parent_path();
    if (parent == p) break;
    p = parent;
  }
  return p.empty() ? fs::path(".") : p;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

void check_writable(const std::string& dir, const std::string& flag) {
  const fs::path at = nearest_existing(dir);
  std::error_code ec;
  const bool exists = at == fs::path(dir).lexically_normal();
  DYBAT_CHECK(fs::is_directory(at, ec), flag, " ", dir, ": ", at.string(), " is not a folder");
  const std::string where = exists ? std::string("the folder") : "its parent folder " + at.string();
  // A folder without any write bit counts as read-only even for root, who could write there anyway
  // (the same rule as the dataset cache's).
  const fs::perms perms = fs::status(at, ec).permissions();
  DYBAT_CHECK((perms & (fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write)) != fs::perms::none,
              flag, " ", dir, ": cannot create files in ", where, " (it is read-only); choose a writable folder");
  std::string probe = (at / ".dybat-write-test-XXXXXX").string();
  int fd = ::mkstemp(probe.data());
  DYBAT_CHECK(fd >= 0, flag, " ", dir, ": cannot create files in ", where, " (", std::strerror(errno),
              "); choose a writable folder");
  ::close(fd);
  ::unlink(probe.c_str());
}

namespace {
std::mutex g_free_space_mutex;
FreeSpaceHook g_free_space_hook;
}  // namespace

void set_free_space_hook(FreeSpaceHook hook) {
  std::lock_guard<std::mutex> lock(g_free_space_mutex);
  g_free_space_hook = std::move(hook);
}

uint64_t free_bytes(const std::string& dir) {
  FreeSpaceHook hook;
  {
    std::lock_guard<std::mutex> lock(g_free_space_mutex);
    hook = g_free_space_hook;
  }
  if (hook) return hook(dir);
  const fs::path at = nearest_existing(dir);
  struct statvfs st;
  DYBAT_CHECK(::statvfs(at.c_str(), &st) == 0, "cannot read the free space of ", at.string(), ": ",
              std::strerror(errno));
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

uint64_t checkpoint_bytes(const Module& model, int64_t num_batches, bool momentum) {
  // Each tensor's header entry is well under 256 bytes of JSON; 4 KiB covers the metadata.
  constexpr uint64_t kPerTensor = 256, kFixed = 4096;
  uint64_t bytes = 2 * kFixed;
  for (const auto& [name, t] : model.state_dict()) bytes += t.nbytes() + kPerTensor;
  if (momentum)
    for (const auto& [name, p] : model.named_parameters()) bytes += p.nbytes() + kPerTensor;
  bytes += static_cast<uint64_t>(num_batches) * (sizeof(float) + sizeof(int64_t)) + 2 * kPerTensor;  // score, order
  return bytes;
}

void check_free_space(const std::string& dir, uint64_t checkpoint, uint64_t logs, const std::string& flag) {
  const uint64_t need = 2 * checkpoint + logs;
  const uint64_t have = free_bytes(dir);
  DYBAT_CHECK(have >= need, flag, " ", dir, ": not enough free space: ", mib(have), " free, but a checkpoint takes ",
              mib(checkpoint), " and a run needs room for two (the new one is written before the old one is ",
              "replaced) plus ", mib(logs), " of logs, ", mib(need), " in all; free some space or choose another ",
              flag);
}

}  // namespace dybat
