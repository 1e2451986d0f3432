// Safetensors: the weight-file format PyTorch users exchange (huggingface/safetensors).
//
// Layout: an 8-byte little-endian header length N, then N bytes of UTF-8 JSON, then the data.
// The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, offsets
// relative to the start of the data; an optional "__metadata__" maps strings to strings. Tensors
// are row-major and little-endian; together they cover the data section exactly, without gaps or
// overlaps.
//
// Contract
//   Reading accepts F32, F64, BF16, F16, I64, I32 and U8. F16 (which dybat has no tensor type for)
//   is widened to float32 exactly; everything else keeps its type. A file that is truncated,
//   malformed, or whose offsets are out of range, overlapping, leave gaps or disagree with the
//   dtype and shape raises dybat::Error naming the file and the offending entry.
//   Writing stores every tensor (any device; copied to the host) in the given order, rejects
//   duplicate or empty names, pads the header with spaces to a multiple of 8 bytes, and is atomic:
//   the bytes go to a temporary file in the same folder that is renamed over `path` at the end,
//   so an interrupted write never leaves a half-written file under the final name.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace dybat {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using SafetensorsMetadata = std::vector<std::pair<std::string, std::string>>;

struct SafetensorsContents {
  NamedTensors tensors;  // CPU tensors, in the order of the header
  SafetensorsMetadata metadata;
};

SafetensorsContents read_safetensors(const std::string& path);
// Parses an in-memory file; `what` names it in error messages.
SafetensorsContents parse_safetensors(const uint8_t* bytes, size_t size, const std::string& what);

void write_safetensors(const std::string& path, const NamedTensors& tensors, const SafetensorsMetadata& metadata = {});
// The bytes write_safetensors would write.
std::vector<uint8_t> serialize_safetensors(const NamedTensors& tensors, const SafetensorsMetadata& metadata = {});

// IEEE half-precision bits to float (exact: every half is a float).
float half_to_float(uint16_t h);

}  // namespace dybat
