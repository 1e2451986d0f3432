// The decoded-dataset cache: one binary file per split, so that a second run skips decoding.
//
// Layout (host byte order; the file is a cache, not an exchange format):
//   "DYBATDS1" | uint64 key | int64 n, h, w, num_classes | int64 labels[n] | uint8 images[n, 3, h, w]
// `key` hashes everything the content depends on (format version, crop, class names, and each
// source file's path, size, modification time and label). A file whose key, header or exact size
// does not match is ignored and rewritten. Writes are atomic (temporary file, then rename), so a
// reader sees either a complete old file or a complete new one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "data/dataset.h"

namespace dybat {

// Reads a cache file as CPU tensors; nullopt when it is absent, stale or malformed.
std::optional<Split> cache_read(const std::string& path, uint64_t key, int64_t num_classes);
// Writes a CPU split atomically; false (with the reason in *why) when that is not possible.
bool cache_write(const std::string& path, uint64_t key, int64_t num_classes, const Split& split, std::string* why);
// --cache-dir's default: $XDG_CACHE_HOME/dybat, else ~/.cache/dybat ("" when neither is known).
std::string default_cache_dir();

}  // namespace dybat
