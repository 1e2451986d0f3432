// File writes a run relies on: atomic replacement (temporary file, fsync, rename, fsync of the
// folder), appends that reach the disk, a checksum for what is read back, and a fault point so
// tests can make any write fail. The library reads no fault settings itself: a test installs a
// hook, and the programs install theirs from the environment (tools/lib/faults.h).
//
// Atomicity: a reader (or a resumed run after a crash) sees either the old file or the new one,
// never a mix. Two files that must change together (a checkpoint's model and state) use
// write_temp for both, then commit_temp in a fixed order; see checkpoint.h for the recovery rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace dybat {

// Called with the final path of every write, before its bytes go out; a hook that throws makes
// the write fail as a full disk would (the destination stays as it was). Empty = no hook.
using WriteFaultHook = std::function<void(const std::string& path)>;
void set_write_fault_hook(WriteFaultHook hook);

// Writes `size` bytes to `path + ".tmp"` and flushes them to the disk; returns the temporary path.
std::string write_temp(const std::string& path, const void* data, size_t size);
// Renames a temporary file over its destination and flushes the folder entry.
void commit_temp(const std::string& temp, const std::string& path);
// write_temp + commit_temp.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Appends text to a file (created if absent) and flushes it to the disk.
void append_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);  // the whole file; throws naming it
bool file_exists(const std::string& path);
// Creates a folder and its parents (no error when it exists).
void make_dirs(const std::string& path);

// CRC-32 (IEEE 802.3: zlib's and PNG's) of `size` bytes, continuing from `crc` (0 to start). It
// detects every error of up to 3 flipped bits and every burst of up to 32 bits.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace dybat
