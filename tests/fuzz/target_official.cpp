// Fuzz targets "cifar10", "cifar100" and "stl10": the official binary readers on a release folder
// whose files come from the input (see split_files). An accepted release must have the shapes
// of its format and labels in range.
#include "data/readers.h"
#include "fuzz/targets.h"

namespace dybat::fuzz {

namespace {

// Writes each present file of the input under scratch/<folder>/ and removes the absent ones.
void put_release(const std::string& folder, const std::vector<std::string>& names, const uint8_t* data,
                 size_t size) {
  std::vector<std::optional<Bytes>> files = split_files(data, size, names.size());
  for (size_t i = 0; i < names.size(); ++i) put_scratch_file(folder + "/" + names[i], files[i]);
}

void check_split(const Split& s, int64_t side, int64_t classes, const char* what) {
  DYBAT_FUZZ_CHECK(s.images.dtype() == DType::UInt8 && s.labels.dtype() == DType::Int64, what);
  DYBAT_FUZZ_CHECK(s.images.dim() == 4 && s.images.size(1) == 3 && s.images.size(2) == side &&
                       s.images.size(3) == side,
                   what, ": images ", s.images.str());
  DYBAT_FUZZ_CHECK(s.labels.dim() == 1 && s.labels.size(0) == s.images.size(0), what);
  for (int64_t y : s.labels.to_vector<int64_t>()) DYBAT_FUZZ_CHECK(y >= 0 && y < classes, what, ": label ", y);
}

bool accepted(const std::function<Dataset()>& read, int64_t side, int64_t classes) {
  Dataset d;
  try {
    d = read();
  } catch (const Error&) {
    return false;
  }
  DYBAT_FUZZ_CHECK(static_cast<int64_t>(d.classes.size()) == classes, "class names");
  check_split(d.train, side, classes, "train split");
  check_split(d.test, side, classes, "test split");
  return true;
}

std::string lines(int n, const char* stem) {
  std::string s;
  for (int i = 0; i < n; ++i) s += std::string(stem) + std::to_string(i) + "\n";
  return s;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// `n` records of CIFAR: each `labels` bytes then 3072 pixel bytes.
Bytes cifar_records(int n, const std::vector<int>& label_bytes) {
  Bytes out;
  for (int r = 0; r < n; ++r) {
    for (int l : label_bytes) out.push_back(static_cast<uint8_t>((l + r) % 10));
    for (int i = 0; i < 3072; ++i) out.push_back(static_cast<uint8_t>(i * 7 + r));
  }
  return out;
}

const std::vector<std::string> kCifar10Files = {"batches.meta.txt", "data_batch_1.bin", "data_batch_2.bin",
                                                "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
                                                "test_batch.bin"};
const std::vector<std::string> kCifar100Files = {"fine_label_names.txt", "coarse_label_names.txt", "train.bin",
                                                 "test.bin"};
const std::vector<std::string> kStl10Files = {"class_names.txt", "train_X.bin", "train_y.bin", "test_X.bin",
                                              "test_y.bin"};

}  // namespace

bool run_cifar10(const uint8_t* data, size_t size) {
  put_release("cifar10/cifar-10-batches-bin", kCifar10Files, data, size);
  return accepted([] { return read_cifar10(scratch_dir() + "/cifar10", nullptr); }, 32, 10);
}

std::vector<Bytes> seeds_cifar10() {
  std::vector<Bytes> seeds;
  for (int n : {1, 2}) {
    std::vector<std::optional<Bytes>> files = {text(lines(10, "class"))};
    for (int f = 0; f < 6; ++f) files.push_back(cifar_records(n, {f}));
    seeds.push_back(join_files(files));
  }
  std::vector<std::optional<Bytes>> missing = {text(lines(10, "c")), cifar_records(1, {0}), std::nullopt};
  seeds.push_back(join_files(missing));
  return seeds;
}

bool run_cifar100(const uint8_t* data, size_t size) {
  if (size < 1) return false;
  // The first byte picks the label set; the rest is the release.
  const std::string labels = data[0] % 2 ? "coarse" : "fine";
  put_release("cifar100/cifar-100-binary", kCifar100Files, data + 1, size - 1);
  return accepted([&] { return read_cifar100(scratch_dir() + "/cifar100", labels, nullptr); }, 32,
                  labels == "fine" ? 100 : 20);
}

std::vector<Bytes> seeds_cifar100() {
  std::vector<Bytes> seeds;
  for (uint8_t which : {0, 1}) {
    Bytes s = {which};
    Bytes release = join_files({text(lines(100, "fine")), text(lines(20, "coarse")), cifar_records(2, {3, 9}),
                                cifar_records(1, {1, 5})});
    s.insert(s.end(), release.begin(), release.end());
    seeds.push_back(s);
  }
  return seeds;
}

bool run_stl10(const uint8_t* data, size_t size) {
  put_release("stl10/stl10_binary", kStl10Files, data, size);
  return accepted([] { return read_stl10(scratch_dir() + "/stl10", nullptr); }, 96, 10);
}

std::vector<Bytes> seeds_stl10() {
  auto images = [](int n) {
    Bytes out(static_cast<size_t>(n) * 3 * 96 * 96);
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i * 13 + i / 96);
    return out;
  };
  return {join_files({text(lines(10, "class")), images(1), Bytes{3}, images(2), Bytes{1, 10}}),
          join_files({text(lines(10, "class")), images(1), Bytes{11}, images(1), Bytes{0}})};
}

}  // namespace dybat::fuzz
