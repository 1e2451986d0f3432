// Fuzz target "safetensors": the reader from memory and from a file, which must agree on every
// input; an accepted file must survive writing and reading again unchanged.
#include <cstring>

#include "core/safetensors.h"
#include "fuzz/targets.h"

namespace dybat::fuzz {

namespace {

// Equal names, dtypes, shapes, bytes and metadata; `what` says which two are compared.
void check_same(const SafetensorsContents& a, const SafetensorsContents& b, const char* what) {
  DYBAT_FUZZ_CHECK(a.metadata == b.metadata, what);
  DYBAT_FUZZ_CHECK(a.tensors.size() == b.tensors.size(), what);
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [na, ta] = a.tensors[i];
    const auto& [nb, tb] = b.tensors[i];
    DYBAT_FUZZ_CHECK(na == nb, what, ": tensor ", i, " is '", na, "' and '", nb, "'");
    DYBAT_FUZZ_CHECK(ta.dtype() == tb.dtype() && ta.shape() == tb.shape(), what, ": tensor '", na, "'");
    DYBAT_FUZZ_CHECK(ta.nbytes() == tb.nbytes(), what, ": tensor '", na, "'");
    if (ta.nbytes() > 0)
      DYBAT_FUZZ_CHECK(std::memcmp(ta.data_ptr(), tb.data_ptr(), ta.nbytes()) == 0, what, ": bytes of '", na, "'");
  }
}

// A file with a hand-written header (so seeds can hold what our writer never writes).
Bytes with_header(const std::string& json, const Bytes& data) {
  Bytes out;
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(json.size()) >> (8 * b)));
  out.insert(out.end(), json.begin(), json.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

}  // namespace

bool run_safetensors(const uint8_t* data, size_t size) {
  std::optional<SafetensorsContents> mem, file;
  std::string mem_error, file_error;
  try {
    mem = parse_safetensors(data, size, "fuzz input");
  } catch (const Error& e) {
    mem_error = e.message();
  }
  put_scratch_file("input.safetensors", Bytes(data, data + size));
  try {
    file = read_safetensors(scratch_dir() + "/input.safetensors");
  } catch (const Error& e) {
    file_error = e.message();
  }
  DYBAT_FUZZ_CHECK(mem.has_value() == file.has_value(), "the memory reader says '", mem_error,
                   "' and the file reader '", file_error, "'");
  if (!mem) return false;
  check_same(*mem, *file, "memory vs file reader");

  // What was read can be written and read back (F16 comes back as the float32 it was widened to).
  std::vector<uint8_t> again = serialize_safetensors(mem->tensors, mem->metadata);
  SafetensorsContents back = parse_safetensors(again.data(), again.size(), "round trip");
  check_same(*mem, back, "read vs written and read again");
  return true;
}

std::vector<Bytes> seeds_safetensors() {
  std::vector<Bytes> seeds;
  auto add = [&](const NamedTensors& t, const SafetensorsMetadata& m) {
    std::vector<uint8_t> b = serialize_safetensors(t, m);
    seeds.emplace_back(b.begin(), b.end());
  };
  Tensor f = Tensor::from_vector<float>({1.5f, -2.0f, 0.25f, 3.0f, 5.0f, -0.0f}, {2, 3});
  add({{"weight", f}, {"bias", Tensor::from_vector<double>({1.0, 2.0}, {2})}}, {{"format", "pt"}, {"step", "7"}});
  add({{"ids", Tensor::from_vector<int64_t>({3, 1, 2}, {3})},
       {"small", Tensor::from_vector<int32_t>({-1, 4}, {2, 1})},
       {"bytes", Tensor::from_vector<uint8_t>({0, 255, 7, 9}, {4})},
       {"half", Tensor::from_vector<float>({1.0f, 0.5f}, {2}).to(DType::BFloat16)},
       {"scalar", Tensor::from_vector<float>({42.0f}, {})},
       {"empty", Tensor::empty({0, 4}, DType::Float32)}},
      {});
  add({}, {{"only", "metadata"}});
  // F16 (read, never written by us), out-of-order offsets, and a few damaged variants.
  seeds.push_back(with_header(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}})",
                              {0x00, 0x3c, 0x01, 0x00, 0x00, 0x7c}));
  seeds.push_back(with_header(
      R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
      {1, 2, 3, 4}));
  seeds.push_back(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", {1, 2, 3}));
  seeds.push_back(with_header("{}      ", {}));
  Bytes cut = seeds.front();
  cut.resize(cut.size() / 2);
  seeds.push_back(cut);
  return seeds;
}

}  // namespace dybat::fuzz
