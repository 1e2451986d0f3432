// File helpers of the dataset readers: whole-file reads with errors that name the file, text
// lines, writability, and the atomic write (temporary file, then rename) used by the cache.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace dybat::io {

bool is_dir(const std::string& path);
bool is_file(const std::string& path);  // a regular file (symlinks followed)
// Size in bytes; throws naming `path` when it is missing or not a regular file.
int64_t file_size(const std::string& path);
// The whole file; throws naming `path` on any failure (missing, unreadable, short read).
std::vector<uint8_t> read_file(const std::string& path);
// Reads exactly `bytes` bytes from the start of `path` into dst; throws naming the file otherwise.
void read_file_into(const std::string& path, void* dst, int64_t bytes);
// Non-empty lines with surrounding whitespace removed (class-name files).
std::vector<std::string> read_lines(const std::string& path);

// True when new files may be created in `dir`: it exists, the process may write there, and the
// folder has a write bit (a folder made read-only with chmod is respected even by root).
bool dir_writable(const std::string& dir);

// Writes `path` atomically: `write` fills a temporary file next to it (returning false on a
// failed write), which is flushed, synced and renamed over `path`. Returns false (with the reason
// in *why) instead of throwing; a failed attempt leaves neither the temporary nor a partial file.
bool write_atomic(const std::string& path, const std::function<bool(std::FILE*)>& write, std::string* why);

// 64-bit FNV-1a, fed piece by piece (cache keys).
class Hasher {
 public:
  void bytes(const void* p, size_t n);
  void str(const std::string& s);  // length-prefixed, so "ab"+"c" differs from "a"+"bc"
  void i64(int64_t v) { bytes(&v, sizeof v); }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

std::string hex64(uint64_t v);  // 16 lowercase hex digits

}  // namespace dybat::io
