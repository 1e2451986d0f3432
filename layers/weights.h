// Saving and loading a module's state_dict (parameters and buffers, by their dotted names) as
// safetensors, the file format PyTorch users exchange: a file written by
// safetensors.torch.save_file(model.state_dict()) for the timm net loads here, and ours loads there.
#pragma once

#include <string>

#include "core/safetensors.h"
#include "layers/module.h"

namespace dybat {

// Writes every parameter and buffer of `m` in state_dict order (atomically, see safetensors.h).
void save_weights(const Module& m, const std::string& path);

// Loads a safetensors file into `m`. Every state_dict name must be in the file with the same
// shape, and the file must hold no other names (the error lists what is missing or extra).
// Floating values (F32, F64, BF16, F16) are converted to each tensor's dtype; integer buffers
// (num_batches_tracked) need an integer entry. Nothing is modified unless everything checks out.
void load_weights(Module& m, const std::string& path);
// The same from tensors already in memory; `source` names them in error messages.
void load_state_dict(Module& m, const NamedTensors& entries, const std::string& source);

}  // namespace dybat
