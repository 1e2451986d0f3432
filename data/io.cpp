// File helpers of the dataset readers (see io.h).
#include "data/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace dybat::io {

bool is_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

int64_t file_size(const std::string& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  DYBAT_CHECK(!ec && fs::exists(st), "file ", path, " not found");
  DYBAT_CHECK(fs::is_regular_file(st), path, " is not a regular file");
  auto size = fs::file_size(path, ec);
  DYBAT_CHECK(!ec, "cannot read the size of ", path, ": ", ec.message());
  return static_cast<int64_t>(size);
}

void read_file_into(const std::string& path, void* dst, int64_t bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  DYBAT_CHECK(f != nullptr, "cannot open ", path, ": ", std::strerror(errno));
  size_t got = bytes > 0 ? std::fread(dst, 1, static_cast<size_t>(bytes), f) : 0;
  std::fclose(f);
  DYBAT_CHECK(static_cast<int64_t>(got) == bytes, "short read from ", path, ": got ", got, " of ", bytes, " bytes");
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> data(static_cast<size_t>(file_size(path)));
  read_file_into(path, data.data(), static_cast<int64_t>(data.size()));
  return data;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  DYBAT_CHECK(in.good(), "cannot open ", path, ": ", std::strerror(errno));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    const char* ws = " \t\r\n";
    size_t b = line.find_first_not_of(ws);
    if (b == std::string::npos) continue;
    size_t e = line.find_last_not_of(ws);
    lines.push_back(line.substr(b, e - b + 1));
  }
  return lines;
}

bool dir_writable(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if ((st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0) return false;
  return ::access(dir.c_str(), W_OK) == 0;
}

bool write_atomic(const std::string& path, const std::function<bool(std::FILE*)>& write, std::string* why) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  auto fail = [&](const std::string& reason) {
    if (why) *why = reason;
    std::remove(tmp.c_str());
    return false;
  };
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    if (why) *why = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  bool ok = write(f);
  ok = ok && std::fflush(f) == 0;
  ok = ok && ::fsync(::fileno(f)) == 0;  // the data is on disk before the name points at it
  int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return fail("writing " + tmp + " failed: " + std::strerror(err ? err : errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return fail("renaming " + tmp + " to " + path + " failed: " + std::strerror(errno));
  return true;
}

void Hasher::bytes(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    h_ ^= b[i];
    h_ *= 1099511628211ull;
  }
}

void Hasher::str(const std::string& s) {
  i64(static_cast<int64_t>(s.size()));
  bytes(s.data(), s.size());
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace dybat::io
