// Saving and loading state_dicts as safetensors: a file from the official Python writer with
// timm's key set, round trips, dtype conversion, and every mismatch error.
#include "layers/weights.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/net_util.h"
#include "nets/registry.h"

using namespace dybat;
namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("dybat_weights_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::shared_ptr<Module> small_net(uint64_t seed, int classes = 10) {
  Generator g(seed);
  return create_net("mobilenetv3_small_100", classes, g);
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  Tensor x = a.cpu().contiguous(), y = b.cpu().contiguous();
  return x.dtype() == y.dtype() && x.shape() == y.shape() && std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

std::string load_error(Module& m, const NamedTensors& entries) {
  try {
    load_state_dict(m, entries, "w.safetensors");
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

}  // namespace

TEST(Weights, LoadsAFileWrittenByThePythonSafetensorsPackage) {
  // tests/fixtures/make_safetensors_fixture.py: timm's mobilenetv3_small_100 key set, each tensor
  // filled with its key index k (F32, and I64 for num_batches_tracked).
  auto net = small_net(0);
  load_weights(*net, test::data_file("files/mobilenetv3_small_100_keyindex.safetensors"));
  auto sd = net->state_dict();
  ASSERT_EQ(sd.size(), 244u);
  for (size_t k = 0; k < sd.size(); ++k) {
    const auto& [name, t] = sd[k];
    if (t.dtype() == DType::Int64) {
      ASSERT_EQ(t.to_vector<int64_t>(), std::vector<int64_t>(1, static_cast<int64_t>(k))) << name;
    } else {
      ASSERT_EQ(t.dtype(), DType::Float32) << name;
      auto v = t.to_vector<float>();
      for (float x : v) ASSERT_EQ(x, static_cast<float>(k)) << name;
    }
  }
}

TEST(Weights, SaveThenLoadRestoresEveryByte) {
  auto a = small_net(1), b = small_net(2);
  const std::string path = temp_path("roundtrip.safetensors");
  save_weights(*a, path);
  // The file is in state_dict order with timm's names.
  auto contents = read_safetensors(path);
  auto sa = a->state_dict();
  ASSERT_EQ(contents.tensors.size(), sa.size());
  for (size_t k = 0; k < sa.size(); ++k) EXPECT_EQ(contents.tensors[k].first, sa[k].first);
  load_weights(*b, path);
  auto sb = b->state_dict();
  for (size_t k = 0; k < sa.size(); ++k) EXPECT_TRUE(same_bytes(sa[k].second, sb[k].second)) << sa[k].first;
  fs::remove(path);
}

TEST(Weights, ConvertsFloatingDtypes) {
  auto a = small_net(1);
  // float64 entries load into a float32 net (rounded), bfloat16 too (widened exactly).
  NamedTensors f64, b16;
  for (auto& [name, t] : a->state_dict()) {
    f64.emplace_back(name, is_floating(t.dtype()) ? t.to(DType::Float64) : t);
    b16.emplace_back(name, is_floating(t.dtype()) ? t.to(DType::BFloat16) : t);
  }
  auto b = small_net(2);
  load_state_dict(*b, f64, "f64");
  auto sa = a->state_dict(), sb = b->state_dict();
  for (size_t k = 0; k < sa.size(); ++k) EXPECT_TRUE(same_bytes(sa[k].second, sb[k].second)) << sa[k].first;
  load_state_dict(*b, b16, "bf16");
  sb = b->state_dict();
  for (size_t k = 0; k < sa.size(); ++k) {
    ASSERT_EQ(sb[k].second.dtype(), sa[k].second.dtype()) << "the net keeps its dtype";
    if (is_floating(sa[k].second.dtype())) {
      EXPECT_TRUE(same_bytes(sb[k].second, sa[k].second.to(DType::BFloat16).to(DType::Float32))) << sa[k].first;
    }
  }
}

TEST(Weights, ReportsMissingExtraAndMismatchedEntriesAndChangesNothing) {
  auto net = small_net(3);
  auto before = net->state_dict();
  std::vector<Tensor> snapshot;
  for (auto& [name, t] : before) snapshot.push_back(t.clone());
  auto good = small_net(4)->state_dict();

  NamedTensors missing(good.begin() + 1, good.end());
  std::string msg = load_error(*net, missing);
  EXPECT_NE(msg.find("missing: conv_stem.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("w.safetensors"), std::string::npos) << msg;

  NamedTensors extra = good;
  extra.emplace_back("head.fc.weight", Tensor::zeros({2}));
  msg = load_error(*net, extra);
  EXPECT_NE(msg.find("unexpected: head.fc.weight"), std::string::npos) << msg;

  auto hundred = small_net(5, 100)->state_dict();  // classifier [100, 1024]
  msg = load_error(*net, hundred);
  EXPECT_NE(msg.find("'classifier.weight' has shape [100, 1024]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expects [10, 1024]"), std::string::npos) << msg;

  NamedTensors wrong_kind = good;
  for (auto& [name, t] : wrong_kind) {
    if (name == "bn1.num_batches_tracked") t = Tensor::scalar(0.0);
  }
  msg = load_error(*net, wrong_kind);
  EXPECT_NE(msg.find("bn1.num_batches_tracked"), std::string::npos) << msg;

  NamedTensors twice = good;
  twice.push_back(good[0]);
  msg = load_error(*net, twice);
  EXPECT_NE(msg.find("appears twice"), std::string::npos) << msg;

  auto after = net->state_dict();
  for (size_t k = 0; k < after.size(); ++k) EXPECT_TRUE(same_bytes(after[k].second, snapshot[k])) << after[k].first;

  // From a file: a truncated or missing file names the path.
  const std::string path = temp_path("bad.safetensors");
  save_weights(*net, path);
  fs::resize_file(path, fs::file_size(path) / 2);
  try {
    load_weights(*net, path);
    FAIL() << "a truncated file loaded";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(path), std::string::npos) << e.message();
  }
  fs::remove(path);
}
