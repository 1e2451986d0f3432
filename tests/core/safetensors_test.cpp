// Safetensors: byte layout, round trips of every dtype, F16 widening, and every malformed-file error.
#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace dybat;
namespace fs = std::filesystem;

namespace {

// A file assembled by hand: the 8-byte little-endian length, the header text, the data bytes.
std::vector<uint8_t> craft(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>((n >> (8 * i)) & 0xff));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "test.safetensors");
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

// A fresh, empty folder under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("dybat_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST(Safetensors, ParsesAHandWrittenFile) {
  // Two tensors back to back: a float32 [2] and an int64 scalar, as the spec lays them out.
  std::vector<uint8_t> data(16);
  const float w[2] = {1.5f, -2.0f};
  const int64_t seven = 7;
  std::memcpy(data.data(), w, 8);
  std::memcpy(data.data() + 8, &seven, 8);
  auto bytes = craft(R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})",
                     data);
  auto c = parse_safetensors(bytes.data(), bytes.size(), "hand");
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].first, "w");
  EXPECT_EQ(c.tensors[0].second.to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(c.tensors[1].first, "n");
  EXPECT_EQ(c.tensors[1].second.dim(), 0);
  EXPECT_EQ(c.tensors[1].second.dtype(), DType::Int64);
  EXPECT_EQ(c.tensors[1].second.to_vector<int64_t>(), (std::vector<int64_t>{7}));
  ASSERT_EQ(c.metadata.size(), 1u);
  EXPECT_EQ(c.metadata[0], (std::pair<std::string, std::string>{"format", "pt"}));
}

TEST(Safetensors, RoundTripsEveryDtype) {
  NamedTensors in = {
      {"f32", Tensor::from_vector<float>({1, -2.5f, 3e-20f, 1e30f, 0, -0.0f}, {2, 3})},
      {"f64", Tensor::from_vector<double>({1.0 / 3, -1e300}, {2})},
      {"bf16", Tensor::from_vector<bf16>({bf16::from_float(1.5f), bf16::from_float(-3.0f)}, {1, 2})},
      {"i64", Tensor::from_vector<int64_t>({-(int64_t(1) << 62), 5}, {2})},
      {"i32", Tensor::from_vector<int32_t>({-7, 2147483647}, {2, 1})},
      {"u8", Tensor::from_vector<uint8_t>({0, 255, 9}, {3})},
      {"scalar", Tensor::scalar(42, DType::Int64)},
      {"empty", Tensor::zeros({0, 4})},
  };
  auto bytes = serialize_safetensors(in, {{"k", "v"}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  EXPECT_EQ((8 + n) % 8, 0u) << "header is padded so the data starts 8-byte aligned";
  auto out = parse_safetensors(bytes.data(), bytes.size(), "roundtrip");
  ASSERT_EQ(out.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(in[i].first);
    EXPECT_EQ(out.tensors[i].first, in[i].first);
    const Tensor &a = in[i].second, &b = out.tensors[i].second;
    EXPECT_EQ(a.shape(), b.shape());
    EXPECT_EQ(a.dtype(), b.dtype());
    ASSERT_EQ(a.nbytes(), b.nbytes());
    if (a.nbytes()) {
      EXPECT_EQ(std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()), 0);
    }
  }
  EXPECT_EQ(out.metadata, (std::vector<std::pair<std::string, std::string>>{{"k", "v"}}));
}

TEST(Safetensors, WritesNonContiguousViewsAsRowMajor) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).permute({1, 0});
  auto bytes = serialize_safetensors({{"t", t}});
  auto out = parse_safetensors(bytes.data(), bytes.size(), "perm");
  EXPECT_EQ(out.tensors[0].second.shape(), (Shape{3, 2}));
  EXPECT_EQ(out.tensors[0].second.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Safetensors, WidensF16ExactlyToFloat32) {
  // 1, -2, largest normal, smallest subnormal, smallest normal, +inf, -0, and a NaN.
  std::vector<uint16_t> halves = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x8000, 0x7e00};
  std::vector<uint8_t> data;
  for (uint16_t h : halves) {
    data.push_back(h & 0xff);
    data.push_back(h >> 8);
  }
  auto bytes = craft(R"({"h":{"dtype":"F16","shape":[8],"data_offsets":[0,16]}})", data);
  auto c = parse_safetensors(bytes.data(), bytes.size(), "half");
  ASSERT_EQ(c.tensors[0].second.dtype(), DType::Float32);
  auto v = c.tensors[0].second.to_vector<float>();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 65504.0f);
  EXPECT_EQ(v[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(v[4], std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::isinf(v[5]) && v[5] > 0);
  EXPECT_TRUE(v[6] == 0.0f && std::signbit(v[6]));
  EXPECT_TRUE(std::isnan(v[7]));
  // Every subnormal: mant * 2^-24.
  for (uint16_t m = 1; m < 0x400; ++m) ASSERT_EQ(half_to_float(m), std::ldexp(static_cast<float>(m), -24)) << m;
}

TEST(Safetensors, RejectsMalformedFiles) {
  const std::vector<uint8_t> four(4, 0);
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"too short", {1, 2, 3}, "truncated"},
      {"header longer than file",
       [] {
         auto b = craft("{}", {});
         b[0] = 200;
         return b;
       }(),
       "truncated"},
      {"absurd header length",
       [] {
         auto b = craft("{}", {});
         b[7] = 0x10;
         return b;
       }(),
       "implausible"},
      {"not json", craft("{not json", {}), "malformed"},
      {"json array", craft("[1,2]", {}), "malformed"},
      {"missing field", craft(R"({"a":{"dtype":"F32","shape":[1]}})", four), "needs dtype, shape and data_offsets"},
      {"unknown dtype", craft(R"({"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", four),
       "unsupported dtype F8_E4M3"},
      {"negative dim", craft(R"({"a":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}})", four), "non-negative"},
      {"fractional dim", craft(R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,4]}})", four), "non-negative"},
      {"size mismatch", craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four), "needs 8 bytes"},
      {"past the end", craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", four), "run past the end"},
      {"reversed", craft(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", four), "reversed"},
      {"overlap",
       craft(
           R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
           four),
       "overlap"},
      {"gap",
       craft(
           R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
           four),
       "belong to no tensor"},
      {"trailing bytes", craft(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", four), "trailing bytes"},
      {"duplicate name",
       craft(
           R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
           four),
       "appears twice"},
      {"bad offsets", craft(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0]}})", four), "[begin, end]"},
      {"metadata not strings", craft(R"({"__metadata__":{"a":1}})", {}), "not a string"},
      {"huge shape", craft(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", four),
       "too large"},
  };
  for (const auto& c : cases) {
    std::string msg = error_of(c.bytes);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": got \"" << msg << "\"";
    if (msg != "(no error)") {
      EXPECT_NE(msg.find("test.safetensors"), std::string::npos) << c.what << " names the file";
    }
  }
}

TEST(Safetensors, ReadsTheSameAsParseAndNamesTheFileOnErrors) {
  TempDir dir;
  std::string path = (dir.path / "w.safetensors").string();
  NamedTensors in = {{"a", Tensor::from_vector<float>({1, 2, 3}, {3})}, {"b", Tensor::scalar(3, DType::Int64)}};
  write_safetensors(path, in);
  auto c = read_safetensors(path);
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].second.to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(c.tensors[1].second.to_vector<int64_t>(), (std::vector<int64_t>{3}));

  // Cut the file short by one byte: the last tensor no longer fits.
  fs::resize_file(path, fs::file_size(path) - 1);
  try {
    read_safetensors(path);
    FAIL() << "a truncated file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(path), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("run past the end"), std::string::npos) << e.message();
  }
  try {
    read_safetensors((dir.path / "missing.safetensors").string());
    FAIL() << "a missing file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("missing.safetensors"), std::string::npos) << e.message();
  }
}

TEST(Safetensors, WritesAtomically) {
  TempDir dir;
  std::string path = (dir.path / "w.safetensors").string();
  write_safetensors(path, {{"a", Tensor::ones({2})}});
  auto before = fs::file_size(path);
  // A write that fails validation leaves the old file alone and no temporary behind.
  EXPECT_THROW(write_safetensors(path, {{"a", Tensor::ones({5})}, {"a", Tensor::ones({5})}}), Error);
  EXPECT_EQ(fs::file_size(path), before);
  // Overwriting replaces the file in one step.
  write_safetensors(path, {{"b", Tensor::zeros({7})}});
  EXPECT_EQ(read_safetensors(path).tensors[0].first, "b");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "temporary files left behind";
  // A folder that does not exist: the error names the target.
  try {
    write_safetensors((dir.path / "no" / "such" / "w.safetensors").string(), {{"a", Tensor::ones({1})}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("w.safetensors"), std::string::npos) << e.message();
  }
}

TEST(Safetensors, RejectsBadNamesOnWrite) {
  EXPECT_THROW(serialize_safetensors({{"", Tensor::ones({1})}}), Error);
  EXPECT_THROW(serialize_safetensors({{"__metadata__", Tensor::ones({1})}}), Error);
  EXPECT_THROW(serialize_safetensors({{"x", Tensor()}}), Error);
}
