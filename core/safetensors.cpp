// Safetensors reading and writing (see safetensors.h for the format and the contract).
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

namespace dybat {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies bytes as they are");

namespace {

using ojson = nlohmann::ordered_json;

// The Rust reference implementation refuses headers above 100 MB; so do we (a corrupt length
// field would otherwise make us allocate gigabytes before failing).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct FileDType {
  const char* tag;
  DType dtype;       // what the tensor holds after reading
  size_t file_size;  // bytes per element in the file
};

// F16 is read into float32 (no half tensor type); everything else maps one to one.
constexpr FileDType kFileDTypes[] = {
    {"F32", DType::Float32, 4}, {"F64", DType::Float64, 8}, {"BF16", DType::BFloat16, 2}, {"F16", DType::Float32, 2},
    {"I64", DType::Int64, 8},   {"I32", DType::Int32, 4},   {"U8", DType::UInt8, 1},
};

const FileDType* find_file_dtype(const std::string& tag) {
  for (const auto& d : kFileDTypes)
    if (tag == d.tag) return &d;
  return nullptr;
}

const char* tag_of(DType t) {
  switch (t) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::BFloat16:
      return "BF16";
    case DType::Int64:
      return "I64";
    case DType::Int32:
      return "I32";
    case DType::UInt8:
      return "U8";
  }
  DYBAT_FAIL("safetensors: no file dtype for ", dtype_name(t));
}

// One tensor as the header describes it, validated against the data section.
struct Entry {
  std::string name;
  const FileDType* dtype;
  Shape shape;
  uint64_t begin, end;  // byte offsets into the data section
};

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t as_u64(const ojson& v, const std::string& what, const std::string& name, const char* field) {
  DYBAT_CHECK(v.is_number_unsigned(), what, ": tensor '", name, "': ", field, " must hold non-negative integers, got ",
              v.dump());
  return v.get<uint64_t>();
}

// Parses and validates the JSON header against a data section of `data_size` bytes.
std::pair<std::vector<Entry>, SafetensorsMetadata> parse_header(const char* text, size_t len, uint64_t data_size,
                                                                const std::string& what) {
  DYBAT_CHECK(len >= 2 && text[0] == '{', what, ": malformed safetensors header (it must be a JSON object)");
  // nlohmann keeps the last of duplicate keys silently; a duplicate tensor name is an error.
  std::set<std::string> seen;
  std::string duplicate;
  ojson header;
  try {
    header = ojson::parse(text, text + len, [&](int depth, ojson::parse_event_t event, ojson& parsed) {
      if (event == ojson::parse_event_t::key && depth == 1) {
        auto key = parsed.get<std::string>();
        if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
      }
      return true;
    });
  } catch (const ojson::exception& e) {
    DYBAT_FAIL(what, ": malformed safetensors header: ", e.what());
  }
  DYBAT_CHECK(header.is_object(), what, ": malformed safetensors header (not a JSON object)");
  DYBAT_CHECK(duplicate.empty(), what, ": tensor name '", duplicate, "' appears twice in the header");

  std::vector<Entry> entries;
  SafetensorsMetadata metadata;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const ojson& v = it.value();
    if (name == "__metadata__") {
      DYBAT_CHECK(v.is_object(), what, ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        DYBAT_CHECK(m.value().is_string(), what, ": __metadata__ value of '", m.key(), "' is not a string");
        metadata.emplace_back(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    DYBAT_CHECK(!name.empty(), what, ": a tensor has an empty name");
    DYBAT_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), what,
                ": tensor '", name, "' needs dtype, shape and data_offsets, got ", v.dump());
    const ojson& jd = v["dtype"];
    DYBAT_CHECK(jd.is_string(), what, ": tensor '", name, "': dtype must be a string");
    const FileDType* fd = find_file_dtype(jd.get<std::string>());
    DYBAT_CHECK(fd, what, ": tensor '", name, "' has unsupported dtype ", jd.get<std::string>(),
                " (supported: F32, F64, BF16, F16, I64, I32, U8)");

    const ojson& js = v["shape"];
    DYBAT_CHECK(js.is_array(), what, ": tensor '", name, "': shape must be an array");
    Shape shape;
    uint64_t numel = 1;
    // The product of the dimensions with zeros counted as ones must fit too: the strides of a
    // tensor with no elements are made of it (a [0, 2^62, 4] tensor overflowed them).
    uint64_t span = 1;
    bool overflow = false;
    for (const auto& d : js) {
      uint64_t n = as_u64(d, what, name, "shape");
      if (n != 0 && numel > std::numeric_limits<uint64_t>::max() / n) overflow = true;
      numel *= n;
      if (n > 1 && span > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n) overflow = true;
      span *= std::max<uint64_t>(n, 1);
      DYBAT_CHECK(n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), what, ": tensor '", name,
                  "': dimension ", n, " is too large");
      shape.push_back(static_cast<int64_t>(n));
    }
    DYBAT_CHECK(!overflow && numel <= std::numeric_limits<uint64_t>::max() / fd->file_size, what, ": tensor '", name,
                "': shape ", shape_str(shape), " is too large");
    const ojson& jo = v["data_offsets"];
    DYBAT_CHECK(jo.is_array() && jo.size() == 2, what, ": tensor '", name, "': data_offsets must be [begin, end], got ",
                jo.dump());
    uint64_t begin = as_u64(jo[0], what, name, "data_offsets");
    uint64_t end = as_u64(jo[1], what, name, "data_offsets");
    DYBAT_CHECK(begin <= end, what, ": tensor '", name, "': data_offsets [", begin, ", ", end, "] are reversed");
    DYBAT_CHECK(end <= data_size, what, ": tensor '", name, "': data_offsets [", begin, ", ", end,
                "] run past the end of the data (", data_size, " bytes; the file is truncated or corrupt)");
    DYBAT_CHECK(end - begin == numel * fd->file_size, what, ": tensor '", name, "': ", fd->tag, shape_str(shape),
                " needs ", numel * fd->file_size, " bytes but data_offsets [", begin, ", ", end, "] hold ",
                end - begin);
    entries.push_back({name, fd, std::move(shape), begin, end});
  }

  // The tensors must tile the data section exactly: sorted by offset, each starts where the
  // previous one ends, and the last ends at the end of the file.
  std::vector<const Entry*> sorted;
  for (const auto& e : entries) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : sorted) {
    DYBAT_CHECK(e->begin >= pos, what, ": tensors '", prev ? prev->name : "", "' and '", e->name,
                "' overlap in the data section (", e->name, " starts at byte ", e->begin, ", before byte ", pos, ")");
    DYBAT_CHECK(e->begin == pos, what, ": bytes [", pos, ", ", e->begin, ") of the data section belong to no tensor",
                " (before '", e->name, "')");
    pos = e->end;
    prev = e;
  }
  DYBAT_CHECK(pos == data_size, what, ": the data section has ", data_size, " bytes but the tensors cover only ", pos,
              " (trailing bytes belong to no tensor)");
  return {std::move(entries), std::move(metadata)};
}

// Makes the CPU tensor for an entry from its raw bytes.
Tensor make_tensor(const Entry& e, const uint8_t* bytes) {
  Tensor t = Tensor::empty(e.shape, e.dtype->dtype);
  size_t n = static_cast<size_t>(e.end - e.begin);
  if (n == 0) return t;
  if (std::string(e.dtype->tag) == "F16") {
    float* out = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      uint16_t h = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      out[i] = half_to_float(h);
    }
  } else {
    std::memcpy(t.data_ptr(), bytes, n);
  }
  return t;
}

// The JSON header (already padded with spaces so that 8 + its length is a multiple of 8) for
// `tensors` laid out back to back in the given order.
std::string build_header(const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  ojson header = ojson::object();
  if (!metadata.empty()) {
    ojson m = ojson::object();
    for (auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::set<std::string> seen;
  uint64_t pos = 0;
  for (auto& [name, t] : tensors) {
    DYBAT_CHECK(!name.empty(), "write_safetensors: a tensor has an empty name");
    DYBAT_CHECK(name != "__metadata__", "write_safetensors: '__metadata__' is reserved and cannot name a tensor");
    DYBAT_CHECK(seen.insert(name).second, "write_safetensors: tensor name '", name, "' given twice");
    DYBAT_CHECK(t.defined(), "write_safetensors: tensor '", name, "' is undefined");
    ojson e = ojson::object();
    e["dtype"] = tag_of(t.dtype());
    e["shape"] = t.shape();
    e["data_offsets"] = {pos, pos + t.nbytes()};
    pos += t.nbytes();
    header[name] = e;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

}  // namespace

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf or NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: value = mant * 2^-24; normalise the mantissa into a float32 normal.
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

SafetensorsContents parse_safetensors(const uint8_t* bytes, size_t size, const std::string& what) {
  DYBAT_CHECK(size >= 8, what, ": truncated safetensors file (", size, " bytes; the 8-byte header length is missing)");
  uint64_t n = read_u64_le(bytes);
  DYBAT_CHECK(n <= kMaxHeaderBytes, what, ": header length ", n, " is implausible (limit ", kMaxHeaderBytes,
              "); not a safetensors file?");
  DYBAT_CHECK(n <= size - 8, what, ": truncated safetensors file (header of ", n, " bytes, but only ", size - 8,
              " follow the length field)");
  auto [entries, metadata] =
      parse_header(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(n), size - 8 - n, what);
  SafetensorsContents out;
  out.metadata = std::move(metadata);
  const uint8_t* data = bytes + 8 + n;
  for (const auto& e : entries) out.tensors.emplace_back(e.name, make_tensor(e, data + e.begin));
  return out;
}

SafetensorsContents read_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DYBAT_CHECK(f, "cannot open safetensors file '", path, "': ", std::strerror(errno));
  f.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  DYBAT_CHECK(size >= 8, path, ": truncated safetensors file (", size, " bytes; the 8-byte header length is missing)");
  uint8_t len_bytes[8];
  f.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t n = read_u64_le(len_bytes);
  DYBAT_CHECK(n <= kMaxHeaderBytes, path, ": header length ", n, " is implausible (limit ", kMaxHeaderBytes,
              "); not a safetensors file?");
  DYBAT_CHECK(n <= size - 8, path, ": truncated safetensors file (header of ", n, " bytes, but only ", size - 8,
              " follow the length field)");
  std::string text(n, '\0');
  f.read(text.data(), static_cast<std::streamsize>(n));
  DYBAT_CHECK(f, path, ": read error in the header");
  auto [entries, metadata] = parse_header(text.data(), text.size(), size - 8 - n, path);

  SafetensorsContents out;
  out.metadata = std::move(metadata);
  std::vector<uint8_t> buf;
  for (const auto& e : entries) {
    buf.resize(static_cast<size_t>(e.end - e.begin));
    f.seekg(static_cast<std::streamoff>(8 + n + e.begin));
    f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    DYBAT_CHECK(f, path, ": tensor '", e.name, "': read error (the file changed or is truncated)");
    out.tensors.emplace_back(e.name, make_tensor(e, buf.data()));
  }
  return out;
}

std::vector<uint8_t> serialize_safetensors(const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  std::string header = build_header(tensors, metadata);
  std::string head = u64_le(header.size()) + header;
  size_t total = head.size();
  for (auto& [name, t] : tensors) total += t.nbytes();
  std::vector<uint8_t> out(total);
  std::memcpy(out.data(), head.data(), head.size());
  size_t pos = head.size();
  for (auto& [name, t] : tensors) {
    Tensor c = t.cpu().contiguous();
    if (c.nbytes() > 0) std::memcpy(out.data() + pos, c.data_ptr(), c.nbytes());
    pos += c.nbytes();
  }
  return out;
}

namespace {
void write_all(int fd, const void* data, size_t n, const std::string& tmp) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    DYBAT_CHECK(w > 0, "write_safetensors: writing '", tmp, "' failed: ", std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}
}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  std::string header = build_header(tensors, metadata);  // validates names before touching the disk
  std::string tmp_template = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp_template.data());
  DYBAT_CHECK(fd >= 0, "write_safetensors: cannot create a temporary file next to '", path,
              "': ", std::strerror(errno));
  const std::string tmp = tmp_template;
  try {
    std::string len = u64_le(header.size());
    write_all(fd, len.data(), len.size(), tmp);
    write_all(fd, header.data(), header.size(), tmp);
    for (auto& [name, t] : tensors) {
      Tensor c = t.cpu().contiguous();
      if (c.nbytes() > 0) write_all(fd, c.data_ptr(), c.nbytes(), tmp);
    }
    // mkstemp creates the file 0600; give it the usual permissions of a new file.
    mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd, 0666 & ~mask);
    DYBAT_CHECK(::fsync(fd) == 0, "write_safetensors: flushing '", tmp, "' failed: ", std::strerror(errno));
    DYBAT_CHECK(::close(fd) == 0, "write_safetensors: closing '", tmp, "' failed: ", std::strerror(errno));
    fd = -1;
    DYBAT_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "write_safetensors: cannot rename '", tmp, "' to '", path,
                "': ", std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace dybat
