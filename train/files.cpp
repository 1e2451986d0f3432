// Durable file writes with POSIX calls (see files.h).
#include "train/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

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
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  DYBAT_CHECK(in.good(), "cannot read '", path, "': ", errno_text());
  const std::streamoff size = in.tellg();
  DYBAT_CHECK(size >= 0, "cannot read '", path, "': not a regular file");
  std::string s(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  DYBAT_CHECK(in.gcount() == static_cast<std::streamsize>(s.size()), "cannot read '", path, "': short read (",
              in.gcount(), " of ", s.size(), " bytes)");
  return s;
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  DYBAT_CHECK(!ec && std::filesystem::is_directory(path), "cannot create the folder '", path, "': ", ec.message());
}

namespace {

// Slicing-by-8 tables: table[0] is the byte-at-a-time table of the reflected polynomial
// 0xedb88320; table[k][b] is the CRC of byte b followed by k zero bytes, so eight bytes are folded
// in with eight lookups.
struct CrcTables {
  uint32_t t[8][256];
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
      t[0][i] = c;
    }
    for (int k = 1; k < 8; ++k)
      for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
};

uint32_t load_le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  static const CrcTables tables;
  const auto& t = tables.t;
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    uint32_t lo = load_le32(p) ^ crc, hi = load_le32(p + 4);
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][hi & 0xff] ^
          t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
  }
  for (; size > 0; --size, ++p) crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace dybat
