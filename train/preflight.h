// Checks of a run's output folder made before any training starts: that files can be created
// there, and that the disk has room for the checkpoints. A run that would fail hours later at its
// first checkpoint fails at once instead, saying why.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "layers/module.h"

namespace dybat {

// Throws (naming `flag`, the folder and the reason) unless new files can be created in `dir`, or,
// when it does not exist yet, in its nearest existing parent folder (where it will be created).
// The test creates and removes a file, so read-only mounts and permissions are both caught.
void check_writable(const std::string& dir, const std::string& flag);

// Bytes an unprivileged process may still write on the file system holding `dir` (or its nearest
// existing parent), or what the free-space hook answers when one is set.
uint64_t free_bytes(const std::string& dir);
// A fault point for the tests of the space check: when set, free_bytes returns hook(dir) instead
// of asking the file system. Empty = no hook.
using FreeSpaceHook = std::function<uint64_t(const std::string& dir)>;
void set_free_space_hook(FreeSpaceHook hook);

// Bytes of one checkpoint of `model` (model.safetensors and state.safetensors, headers included)
// for a run with `num_batches` batches per epoch, with a momentum buffer per parameter when
// `momentum` is set.
uint64_t checkpoint_bytes(const Module& model, int64_t num_batches, bool momentum);

// Throws unless `dir` has room for two checkpoints of `checkpoint` bytes (a new pair is written
// in full before the old one is replaced) plus `logs` bytes of text files.
void check_free_space(const std::string& dir, uint64_t checkpoint, uint64_t logs, const std::string& flag);

}  // namespace dybat
