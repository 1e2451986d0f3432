// Checkpoint files and their two-file commit protocol (see checkpoint.h).
#include "train/checkpoint.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>

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

uint64_t meta_u64(const Metadata& m, const std::string& key, const std::string& file) {
  std::string v = meta(m, key, file);
  try {
    size_t used = 0;
    unsigned long long x = std::stoull(v, &used);
    if (used == v.size() && !v.empty() && v[0] != '-') return x;
  } catch (const std::exception&) {
  }
  DYBAT_FAIL("'", file, "': metadata '", key, "' = '", v, "' is not a non-negative integer");
}

double meta_double(const Metadata& m, const std::string& key, const std::string& file) {
  std::string v = meta(m, key, file);
  try {
    size_t used = 0;
    double x = std::stod(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  DYBAT_FAIL("'", file, "': metadata '", key, "' = '", v, "' is not a number");
}

// The checksum: CRC-32 of the whole file, taken with the 8 hex digits of metadata "crc32" read as
// "00000000", so it covers the header (names, shapes, offsets, step and the rest) and the data.
constexpr char kCrcField[] = "\"crc32\":\"";
constexpr size_t kCrcDigits = 8;

// Offset of the checksum's digits in a serialized file, or npos when the header holds no (or more
// than one) checksum field. The header is compact JSON, so the field reads exactly "crc32":"XXXXXXXX";
// inside a JSON string a quote is escaped, so the pattern cannot hide in a name or a value.
size_t crc_digits_at(const uint8_t* bytes, size_t size) {
  if (size < 8) return std::string::npos;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > size - 8) return std::string::npos;
  std::string_view header(reinterpret_cast<const char*>(bytes) + 8, static_cast<size_t>(n));
  size_t at = header.find(kCrcField);
  if (at == std::string_view::npos || header.find(kCrcField, at + 1) != std::string_view::npos)
    return std::string::npos;
  at += sizeof(kCrcField) - 1;
  if (at + kCrcDigits >= header.size() || header[at + kCrcDigits] != '"') return std::string::npos;
  return 8 + at;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

uint32_t crc_with_zero_digits(const uint8_t* bytes, size_t size, size_t at) {
  static const char zeros[kCrcDigits + 1] = "00000000";
  uint32_t c = crc32(bytes, at);
  c = crc32(zeros, kCrcDigits, c);
  return crc32(bytes + at + kCrcDigits, size - at - kCrcDigits, c);
}

// serialize_safetensors with the checksum in the metadata.
std::vector<uint8_t> serialize_checked(const NamedTensors& tensors, Metadata metadata) {
  metadata.emplace_back("crc32", std::string(kCrcDigits, '0'));
  std::vector<uint8_t> bytes = serialize_safetensors(tensors, metadata);
  size_t at = crc_digits_at(bytes.data(), bytes.size());
  DYBAT_CHECK(at != std::string::npos, "checkpoint: no place for the checksum in the header");
  std::string digits = hex32(crc_with_zero_digits(bytes.data(), bytes.size(), at));
  std::memcpy(bytes.data() + at, digits.data(), kCrcDigits);
  return bytes;
}

// Reads a safetensors file and checks its checksum: required for checkpoint files, checked when
// present for other files (a --weights file from elsewhere has none). Throws naming the file.
SafetensorsContents read_verified(const std::string& path, bool required) {
  DYBAT_CHECK(file_exists(path), "cannot read '", path, "': no such file");
  const std::string raw = read_file(path);
  const auto* bytes = reinterpret_cast<const uint8_t*>(raw.data());
  SafetensorsContents c;
  try {
    c = parse_safetensors(bytes, raw.size(), path);
  } catch (const Error& e) {
    DYBAT_FAIL("'", path, "' is damaged or not a safetensors file (", e.message(), ")");
  }
  const size_t at = crc_digits_at(bytes, raw.size());
  if (at == std::string::npos) {
    DYBAT_CHECK(!required, "'", path, "' has no checksum (crc32 in its metadata): not a checkpoint written by ",
                "this program, or its header is damaged");
    return c;
  }
  const std::string stored = raw.substr(at, kCrcDigits);
  const std::string actual = hex32(crc_with_zero_digits(bytes, raw.size(), at));
  DYBAT_CHECK(stored == actual, "'", path, "' is damaged: its CRC-32 is ", actual, " but the file records ", stored,
              " (", raw.size(), " bytes; the file was cut short or changed on the disk, e.g. a flipped bit)");
  return c;
}

int64_t step_in(const SafetensorsContents& c, const std::string& path) {
  int64_t step = meta_int(c.metadata, "step", path);
  DYBAT_CHECK(step >= 0, "'", path, "': negative step ", step);
  return step;
}

// The verified contents of a checkpoint file with its step, or the reason it cannot be used.
struct CheckedFile {
  std::optional<SafetensorsContents> contents;
  int64_t step = -1;
  std::string error;
};

CheckedFile check_file(const std::string& path) {
  CheckedFile f;
  try {
    f.contents = read_verified(path, true);
    f.step = step_in(*f.contents, path);
  } catch (const Error& e) {
    f.contents.reset();
    f.error = e.message();
  }
  return f;
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

struct Pair {
  SafetensorsContents model, state;
};

// Finishes or discards an interrupted commit and reads the committed pair, both verified;
// nullopt when the folder holds no checkpoint. A damaged file throws naming it.
std::optional<Pair> recover(const std::string& dir) {
  std::string model_path = join(dir, "model.safetensors"), state_path = join(dir, "state.safetensors");
  std::string model_tmp = model_path + ".tmp", state_tmp = state_path + ".tmp";
  if (!file_exists(state_path)) {
    ::unlink(model_tmp.c_str());
    ::unlink(state_tmp.c_str());
    return std::nullopt;
  }
  CheckedFile state = check_file(state_path);
  DYBAT_CHECK(state.contents, "the checkpoint in '", dir, "' cannot be used: ", state.error);
  CheckedFile model = check_file(model_path);
  if (model.step != state.step && file_exists(model_tmp)) {
    CheckedFile tmp = check_file(model_tmp);
    if (tmp.step == state.step) {  // the crash came between the two renames
      commit_temp(model_tmp, model_path);
      model = std::move(tmp);
    }
  }
  ::unlink(model_tmp.c_str());
  ::unlink(state_tmp.c_str());
  DYBAT_CHECK(model.contents, "the checkpoint in '", dir, "' cannot be used: ", model.error);
  DYBAT_CHECK(model.step == state.step, "'", dir, "': model.safetensors (step ", model.step,
              ") does not belong to the checkpoint of step ", state.step,
              " in state.safetensors; the checkpoint is damaged");
  return Pair{std::move(*model.contents), std::move(*state.contents)};
}

}  // namespace

void save_checkpoint(const std::string& dir, const Module& model, const CheckpointState& st) {
  std::string step = std::to_string(st.step);
  std::vector<uint8_t> model_bytes = serialize_checked(model.state_dict(), {{"format", "pt"}, {"step", step}});
  NamedTensors tensors = {{"score", st.score}, {"order", st.order}};
  for (auto& [name, t] : st.momentum) tensors.emplace_back("momentum." + name, t);
  for (auto& [name, t] : st.method) tensors.emplace_back("select." + name, t);
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
  if (!st.select_work.empty()) m.emplace_back("select_work", st.select_work);
  write_pair(dir, model_bytes, serialize_checked(tensors, m));
}

bool has_checkpoint(const std::string& dir) { return recover(dir).has_value(); }

CheckpointState load_checkpoint(const std::string& dir, Module& model) {
  std::optional<Pair> pair = recover(dir);
  DYBAT_CHECK(pair, "'", dir, "' holds no checkpoint (state.safetensors)");
  std::string state_path = join(dir, "state.safetensors");
  const SafetensorsContents& c = pair->state;
  CheckpointState st;
  st.step = meta_int(c.metadata, "step", state_path);
  st.pass = meta_int(c.metadata, "pass", state_path);
  st.position = meta_int(c.metadata, "position", state_path);
  st.seed = meta_u64(c.metadata, "seed", state_path);
  st.generator_offset = meta_u64(c.metadata, "generator_offset", state_path);
  st.elapsed_s = meta_double(c.metadata, "elapsed_s", state_path);
  st.backend = meta(c.metadata, "backend", state_path);
  for (auto& [k, v] : c.metadata)
    if (k == "cudnn_algorithms") {
      st.cudnn_algorithms = v;  // optional: older checkpoints lack it
    } else if (k == "select_work") {
      st.select_work = v;
    }
  for (auto& [name, t] : c.tensors) {
    if (name == "score") {
      st.score = t;
    } else if (name == "order") {
      st.order = t;
    } else if (name.rfind("momentum.", 0) == 0) {
      st.momentum.emplace_back(name.substr(9), t);
    } else if (name.rfind("select.", 0) == 0) {
      st.method.emplace_back(name.substr(7), t);
    } else {
      DYBAT_FAIL("'", state_path, "': unexpected tensor '", name, "'");
    }
  }
  DYBAT_CHECK(st.score.defined() && st.order.defined(), "'", state_path, "' lacks the score or order tensor");
  load_state_dict(model, pair->model.tensors, join(dir, "model.safetensors"));
  return st;
}

void load_model_file(Module& model, const std::string& path) {
  DYBAT_CHECK(file_exists(path), "cannot read the weights file '", path, "': no such file");
  load_state_dict(model, read_verified(path, false).tensors, path);
}

}  // namespace dybat
