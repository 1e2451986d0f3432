// Checkpoints of a run: model.safetensors (the model alone, by timm's names, loadable by PyTorch
// with strict key checking) and state.safetensors (everything else a resumed run needs).
//
// state.safetensors holds the tensors "score" [b] float32, "order" [b] int64 (the current pass's
// ids), "momentum.<parameter name>" (SGD buffers), and metadata: step, pass, position, seed,
// generator_offset, elapsed_s, backend (TF32 and deterministic-algorithm settings), version, and
// cudnn_algorithms (the cuDNN algorithms chosen, in the text form of train/checkpoint_algos.h;
// absent in older files).
// A selection method other than dybat adds its state as "select.<name>" tensors and its work as
// metadata select_work (both absent otherwise).
// Both files carry their step in the metadata, and a checksum: "crc32", the CRC-32 of the whole
// file taken with those 8 hex digits read as "00000000" (so header and data are covered). A file
// that is cut short, fails to parse or whose checksum differs is rejected naming the file; a
// checkpoint is never loaded partly.
//
// Commit protocol (so a crash at any point leaves a loadable checkpoint):
//   1. write model.safetensors.tmp and state.safetensors.tmp (flushed to the disk);
//   2. rename the state file into place: the commit point;
//   3. rename the model file into place.
// On load, a model whose step differs from the state's is replaced by model.safetensors.tmp when
// that holds the state's step (a crash between 2 and 3); leftover temporaries are removed.
// A failing write (see set_write_fault_hook) leaves the previous checkpoint as it was.
#pragma once

#include <cstdint>
#include <string>

#include "core/safetensors.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace dybat {

struct CheckpointState {
  int64_t step = 0;  // training steps done
  int64_t pass = 0;
  int64_t position = 0;
  Tensor score;         // float32 [b]
  Tensor order;         // int64 [b]
  NamedTensors momentum;  // by parameter name
  uint64_t seed = 0;
  uint64_t generator_offset = 0;  // Philox offset of the training loop's own stream (0: it draws none)
  double elapsed_s = 0;
  std::string backend;
  std::string cudnn_algorithms;  // conv2d_algorithms_to_text(...); "" when none were chosen
  // The selection method's own state (train/select_method.h), stored as "select.<name>" tensors,
  // and its work so far (a JSON object, metadata "select_work"); both empty for dybat, whose
  // state is score and order alone.
  NamedTensors method;
  std::string select_work;
};

void save_checkpoint(const std::string& dir, const Module& model, const CheckpointState& state);
// True when dir holds a committed checkpoint (after recovering an interrupted commit); throws when
// it holds a damaged one.
bool has_checkpoint(const std::string& dir);
// Loads model.safetensors into `model` (strict names and shapes) and returns the state, with its
// tensors on the CPU.
CheckpointState load_checkpoint(const std::string& dir, Module& model);
// Loads a safetensors model file into `model` (strict names and shapes; dtypes converted); its
// checksum is verified when it has one (files from other programs have none).
void load_model_file(Module& model, const std::string& path);

}  // namespace dybat
