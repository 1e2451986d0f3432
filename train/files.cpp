// Durable file writes with POSIX calls (see files.h).
#include "train/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "core/error.h"

namespace dybat {

namespace {

std::mutex g_hook_mutex;
WriteFaultHook g_hook;

void run_hook(const std::string& path) {
  WriteFaultHook h;
  {
    std::lock_guard<std::mutex> lock(g_hook_mutex);
    h = g_hook;
  }
  if (h) h(path);
}

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t w = ::write(fd, p, size);
    if (w < 0 && errno == EINTR) continue;
    DYBAT_CHECK(w > 0, "cannot write '", path, "': ", errno_text());
    p += w;
    size -= static_cast<size_t>(w);
  }
}

void sync_folder_of(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = std::filesystem::current_path();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some file systems do not allow it
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void set_write_fault_hook(WriteFaultHook hook) {
  std::lock_guard<std::mutex> lock(g_hook_mutex);
  g_hook = std::move(hook);
}

void install_write_fault_from_env() {
  const char* spec = std::getenv("DYBAT_FAULT_WRITE");
  if (spec == nullptr || *spec == '\0') return;
  std::string s = spec, name = s;
  int nth = 1;
  if (auto colon = s.rfind(':'); colon != std::string::npos) {
    name = s.substr(0, colon);
    nth = std::atoi(s.c_str() + colon + 1);
  }
  auto count = std::make_shared<int>(0);
  set_write_fault_hook([name, nth, count](const std::string& path) {
    if (std::filesystem::path(path).filename() != name) return;
    if (++*count == nth) DYBAT_FAIL("cannot write '", path, "': injected fault (DYBAT_FAULT_WRITE)");
  });
}

std::string write_temp(const std::string& path, const void* data, size_t size) {
  run_hook(path);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DYBAT_CHECK(fd >= 0, "cannot create '", tmp, "': ", errno_text());
  try {
    write_all(fd, data, size, tmp);
    DYBAT_CHECK(::fsync(fd) == 0, "cannot flush '", tmp, "' to the disk: ", errno_text());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  DYBAT_CHECK(::close(fd) == 0, "cannot close '", tmp, "': ", errno_text());
  return tmp;
}

void commit_temp(const std::string& temp, const std::string& path) {
  DYBAT_CHECK(::rename(temp.c_str(), path.c_str()) == 0, "cannot rename '", temp, "' to '", path, "': ", errno_text());
  sync_folder_of(path);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  commit_temp(write_temp(path, bytes.data(), bytes.size()), path);
}

void append_file(const std::string& path, const std::string& text) {
  run_hook(path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  DYBAT_CHECK(fd >= 0, "cannot open '", path, "' for appending: ", errno_text());
  try {
    write_all(fd, text.data(), text.size(), path);
    DYBAT_CHECK(::fsync(fd) == 0, "cannot flush '", path, "' to the disk: ", errno_text());
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DYBAT_CHECK(in.good(), "cannot read '", path, "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  DYBAT_CHECK(!ec && std::filesystem::is_directory(path), "cannot create the folder '", path, "': ", ec.message());
}

}  // namespace dybat
