// The checkpoint's text form of the record of cuDNN algorithm choices (kernels/conv2d.h), kept in
// state.safetensors' metadata "cudnn_algorithms" (train/checkpoint.h) so that a resumed run
// runs the algorithms it ran before. Records are separated by ';', each "k0,k1,...=a:m/a:m/a:m":
// the geometry key, then (algorithm id, math type) for forward, backward data and backward filter,
// -1:-1 where a direction was not chosen.
#pragma once

#include <string>
#include <vector>

#include "kernels/conv2d.h"

namespace dybat {

std::string conv2d_algorithms_to_text(const std::vector<ConvAlgoRecord>& records);
// Throws dybat::Error naming the record on malformed text; "" gives no records.
std::vector<ConvAlgoRecord> conv2d_algorithms_from_text(const std::string& text);

}  // namespace dybat
