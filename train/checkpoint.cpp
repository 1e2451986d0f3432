// Checkpoint files and their two-file commit protocol (see checkpoint.h).
#include "train/checkpoint.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "layers/weights.h"
#include "train/config.h"
#include "train/files.h"

namespace dybat {

namespace {

using Metadata = std::vector<std::pair<std::string, std::string>>;

std::string join(const std::string& dir, const char* name) { return (std::filesystem::path(dir) / name).string(); }

std::string meta(const Metadata& m, const std::string& key, const std::string& file) {
  for (auto& [k, v] : m)
    if (k == key) return v;
  DYBAT_FAIL("'", file, "' has no '", key, "' in its metadata: not a checkpoint written by this program");
}

int64_t meta_int(const Metadata& m, const std::string& key, const std::string& file) {
  std::string v = meta(m, key, file);
  try {
    size_t used = 0;
    long long x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  DYBAT_FAIL("'", file, "': metadata '", key, "' = '", v, "' is not an integer");
}

// The step recorded in a file's metadata (-1 when the file cannot be read as a checkpoint file).
int64_t step_of(const std::string& path) {
  try {
    SafetensorsContents c = read_safetensors(path);
    return meta_int(c.metadata, "step", path);
  } catch (const Error&) {
    return -1;
  }
}

void write_pair(const std::string& dir, const std::vector<uint8_t>& model, const std::vector<uint8_t>& state) {
  std::string model_path = join(dir, "model.safetensors"), state_path = join(dir, "state.safetensors");
  std::string model_tmp = write_temp(model_path, model.data(), model.size());
  std::string state_tmp;
  try {
    state_tmp = write_temp(state_path, state.data(), state.size());
  } catch (...) {
    ::unlink(model_tmp.c_str());
    throw;
  }
  commit_temp(state_tmp, state_path);  // the commit point
  commit_temp(model_tmp, model_path);
}

// Finishes or discards an interrupted commit; returns true when a committed checkpoint exists.
bool recover(const std::string& dir) {
  std::string model_path = join(dir, "model.safetensors"), state_path = join(dir, "state.safetensors");
  std::string model_tmp = model_path + ".tmp", state_tmp = state_path + ".tmp";
  if (!file_exists(state_path)) {
    ::unlink(model_tmp.c_str());
    ::unlink(state_tmp.c_str());
    return false;
  }
  int64_t step = step_of(state_path);
  DYBAT_CHECK(step >= 0, "'", state_path, "' is not a readable checkpoint");
  if (step_of(model_path) != step && file_exists(model_tmp) && step_of(model_tmp) == step)
    commit_temp(model_tmp, model_path);  // the crash came between the two renames
  ::unlink(model_tmp.c_str());
  ::unlink(state_tmp.c_str());
  DYBAT_CHECK(file_exists(model_path) && step_of(model_path) == step, "'", dir,
              "': model.safetensors does not belong to the checkpoint of step ", step,
              " in state.safetensors; the checkpoint is damaged");
  return true;
}

}  // namespace

void save_checkpoint(const std::string& dir, const Module& model, const CheckpointState& st) {
  std::string step = std::to_string(st.step);
  std::vector<uint8_t> model_bytes = serialize_safetensors(model.state_dict(), {{"format", "pt"}, {"step", step}});
  NamedTensors tensors = {{"score", st.score}, {"order", st.order}};
  for (auto& [name, t] : st.momentum) tensors.emplace_back("momentum." + name, t);
  char elapsed[64];
  std::snprintf(elapsed, sizeof elapsed, "%.17g", st.elapsed_s);
  Metadata m = {{"step", step},
                {"pass", std::to_string(st.pass)},
                {"position", std::to_string(st.position)},
                {"seed", std::to_string(st.seed)},
                {"generator_offset", std::to_string(st.generator_offset)},
                {"elapsed_s", elapsed},
                {"backend", st.backend},
                {"cudnn_algorithms", st.cudnn_algorithms},
                {"version", kDybatVersion}};
  write_pair(dir, model_bytes, serialize_safetensors(tensors, m));
}

bool has_checkpoint(const std::string& dir) { return recover(dir); }

CheckpointState load_checkpoint(const std::string& dir, Module& model) {
  DYBAT_CHECK(recover(dir), "'", dir, "' holds no checkpoint (state.safetensors)");
  std::string state_path = join(dir, "state.safetensors");
  SafetensorsContents c = read_safetensors(state_path);
  CheckpointState st;
  st.step = meta_int(c.metadata, "step", state_path);
  st.pass = meta_int(c.metadata, "pass", state_path);
  st.position = meta_int(c.metadata, "position", state_path);
  st.seed = std::stoull(meta(c.metadata, "seed", state_path));
  st.generator_offset = std::stoull(meta(c.metadata, "generator_offset", state_path));
  st.elapsed_s = std::stod(meta(c.metadata, "elapsed_s", state_path));
  st.backend = meta(c.metadata, "backend", state_path);
  for (auto& [k, v] : c.metadata)
    if (k == "cudnn_algorithms") st.cudnn_algorithms = v;  // optional: older checkpoints lack it
  for (auto& [name, t] : c.tensors) {
    if (name == "score") {
      st.score = t;
    } else if (name == "order") {
      st.order = t;
    } else if (name.rfind("momentum.", 0) == 0) {
      st.momentum.emplace_back(name.substr(9), t);
    } else {
      DYBAT_FAIL("'", state_path, "': unexpected tensor '", name, "'");
    }
  }
  DYBAT_CHECK(st.score.defined() && st.order.defined(), "'", state_path, "' lacks the score or order tensor");
  load_model_file(model, join(dir, "model.safetensors"));
  return st;
}

void load_model_file(Module& model, const std::string& path) {
  DYBAT_CHECK(file_exists(path), "cannot read the weights file '", path, "': no such file");
  load_state_dict(model, read_safetensors(path).tensors, path);
}

}  // namespace dybat
