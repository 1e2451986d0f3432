// Readers for the official binary releases: CIFAR-10 (cifar-10-batches-bin/), CIFAR-100
// (cifar-100-binary/) and STL-10 (stl10_binary/). Every file is checked by its size and record
// structure (whole records, labels in range) before its pixels are used.
#include <cstring>
#include <filesystem>

#include "data/io.h"
#include "data/readers.h"

namespace fs = std::filesystem;

namespace dybat {

namespace {

std::string join(const std::string& a, const std::string& b) { return (fs::path(a) / b).string(); }

// The folder a release unpacks to, or a clear error (with the pickle-release hint for CIFAR).
std::string release_dir(const std::string& root, const std::string& folder, const std::string& dataset,
                        const std::string& archive) {
  const std::string dir = join(root, folder);
  if (io::is_dir(dir)) return dir;
  const char* pickle = dataset == "cifar10" ? "cifar-10-batches-py" : dataset == "cifar100" ? "cifar-100-python" : "";
  if (*pickle != '\0' && io::is_dir(join(root, pickle)))
    DYBAT_FAIL(dataset, ": ", root, " holds ", pickle,
               "/, torchvision's python-pickle release, but dybat reads the binary "
               "release ",
               folder, "/; get it with: tools/fetch-data ", dataset, " --data ", root);
  DYBAT_FAIL(dataset, ": folder ", dir, " not found (expected the folder unpacked from ", archive,
             "; get it with: tools/fetch-data ", dataset, " --data ", root, ")");
}

// The file of one split, or "missing <split> split" naming it.
std::string split_file(const std::string& dir, const std::string& name, const std::string& dataset, const char* split) {
  const std::string path = join(dir, name);
  DYBAT_CHECK(io::is_file(path), dataset, ": missing ", split, " split: file ", path, " not found");
  return path;
}

// Number of whole records in a file of record size `rec`, at most `max_records` (the official count).
int64_t count_records(const std::string& path, int64_t rec, int64_t max_records, const char* what) {
  const int64_t size = io::file_size(path);
  DYBAT_CHECK(size > 0 && size % rec == 0, path, " is truncated or not a ", what, " file: ", size,
              " bytes is not a whole number of ", rec, "-byte records (the official file has ", max_records * rec,
              " bytes)");
  DYBAT_CHECK(size / rec <= max_records, path, " is oversized: ", size, " bytes = ", size / rec,
              " records, more than the official ", max_records, " (", max_records * rec, " bytes)");
  return size / rec;
}

std::vector<std::string> class_names(const std::string& path, size_t expected, const std::string& dataset) {
  DYBAT_CHECK(io::is_file(path), dataset, ": class-name file ", path, " not found");
  std::vector<std::string> names = io::read_lines(path);
  DYBAT_CHECK(names.size() == expected, dataset, ": ", path, " holds ", names.size(), " class names, expected ",
              expected);
  return names;
}

void note_unofficial(const LogFn& log, const std::string& path, int64_t n, int64_t official) {
  if (log && n != official)
    log("note: " + path + " holds " + std::to_string(n) + " records, the official file " + std::to_string(official));
}

// CIFAR record files: [label bytes][R 1024][G 1024][B 1024] per record. `label_byte` picks the
// label among the leading bytes; every leading byte j is checked against ranges[j] (so a corrupt
// coarse label is caught while fine labels are used, and the other way round).
struct CifarFile {
  std::string path;
  int64_t records;
};

Split read_cifar_records(const std::vector<CifarFile>& files, const std::vector<int64_t>& ranges, int label_byte) {
  const int label_bytes = static_cast<int>(ranges.size());
  const int64_t rec = label_bytes + 3072;
  int64_t total = 0;
  for (const auto& f : files) total += f.records;
  Split s;
  s.images = Tensor::empty({total, 3, 32, 32}, DType::UInt8);
  s.labels = Tensor::empty({total}, DType::Int64);
  uint8_t* img = s.images.data<uint8_t>();
  int64_t* lab = s.labels.data<int64_t>();
  int64_t i = 0;
  for (const auto& f : files) {
    std::vector<uint8_t> bytes = io::read_file(f.path);
    DYBAT_CHECK(static_cast<int64_t>(bytes.size()) == f.records * rec, f.path, " changed while being read");
    for (int64_t r = 0; r < f.records; ++r, ++i) {
      const uint8_t* p = bytes.data() + r * rec;
      for (int j = 0; j < label_bytes; ++j)
        DYBAT_CHECK(p[j] < ranges[j], f.path, ": record ", r, " (byte ", r * rec + j, ") has label ",
                    static_cast<int>(p[j]), ", out of range 0..", ranges[j] - 1,
                    "; the file is corrupt or not of this format");
      lab[i] = p[label_byte];
      // The record's planes are already the [3, 32, 32] layout of a sample.
      std::memcpy(img + i * 3072, p + label_bytes, 3072);
    }
  }
  return s;
}

}  // namespace

Dataset read_cifar10(const std::string& root, const LogFn& log) {
  const std::string dir = release_dir(root, "cifar-10-batches-bin", "cifar10", "cifar-10-binary.tar.gz");
  Dataset d;
  d.name = "cifar10";
  d.classes = class_names(join(dir, "batches.meta.txt"), 10, "cifar10");
  constexpr int64_t kRec = 3073, kPerFile = 10000;
  std::vector<CifarFile> train;
  for (int k = 1; k <= 5; ++k) {
    std::string path = split_file(dir, "data_batch_" + std::to_string(k) + ".bin", "cifar10", "train");
    train.push_back({path, count_records(path, kRec, kPerFile, "CIFAR-10 batch")});
  }
  std::string test_path = split_file(dir, "test_batch.bin", "cifar10", "test");
  CifarFile test{test_path, count_records(test_path, kRec, kPerFile, "CIFAR-10 batch")};
  // The six official files hold 10000 records each; a file cut at a record boundary shows up as a
  // count that differs from the others.
  for (const auto& f : train)
    DYBAT_CHECK(f.records == test.records, "cifar10: ", f.path, " holds ", f.records, " records but ", test.path,
                " holds ", test.records, "; every batch file of the release holds the same number (10000)");
  note_unofficial(log, test.path, test.records, kPerFile);
  d.train = read_cifar_records(train, {10}, 0);
  d.test = read_cifar_records({test}, {10}, 0);
  return d;
}

Dataset read_cifar100(const std::string& root, const std::string& labels, const LogFn& log) {
  DYBAT_CHECK(labels == "fine" || labels == "coarse", "cifar100: --labels must be 'fine' or 'coarse', got '", labels,
              "'");
  const bool fine = labels == "fine";
  const std::string dir = release_dir(root, "cifar-100-binary", "cifar100", "cifar-100-binary.tar.gz");
  Dataset d;
  d.name = "cifar100";
  d.classes =
      class_names(join(dir, fine ? "fine_label_names.txt" : "coarse_label_names.txt"), fine ? 100 : 20, "cifar100");
  constexpr int64_t kRec = 3074;
  std::string train_path = split_file(dir, "train.bin", "cifar100", "train");
  std::string test_path = split_file(dir, "test.bin", "cifar100", "test");
  CifarFile train{train_path, count_records(train_path, kRec, 50000, "CIFAR-100")};
  CifarFile test{test_path, count_records(test_path, kRec, 10000, "CIFAR-100")};
  note_unofficial(log, train.path, train.records, 50000);
  note_unofficial(log, test.path, test.records, 10000);
  // Byte 0 is the coarse label (0..19), byte 1 the fine one (0..99, torchvision's default).
  d.train = read_cifar_records({train}, {20, 100}, fine ? 1 : 0);
  d.test = read_cifar_records({test}, {20, 100}, fine ? 1 : 0);
  return d;
}

namespace {

// STL-10 images: 3 planes of 96x96, each stored column-major: X[n*27648 + ch*9216 + col*96 + row].
// Labels 1..10 become 0..9.
Split read_stl_split(const std::string& dir, const char* split, int64_t official) {
  constexpr int64_t kImage = 3 * 96 * 96;
  const std::string xp = split_file(dir, std::string(split) + "_X.bin", "stl10", split);
  const std::string yp = split_file(dir, std::string(split) + "_y.bin", "stl10", split);
  const int64_t n = count_records(xp, kImage, official, "STL-10 image");
  const int64_t ny = count_records(yp, 1, official, "STL-10 label");
  DYBAT_CHECK(n == ny, "stl10: ", xp, " holds ", n, " images but ", yp, " holds ", ny,
              " labels; the two files of a split must match");
  std::vector<uint8_t> y = io::read_file(yp);
  Split s;
  s.images = Tensor::empty({n, 3, 96, 96}, DType::UInt8);
  s.labels = Tensor::empty({n}, DType::Int64);
  int64_t* lab = s.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    DYBAT_CHECK(y[i] >= 1 && y[i] <= 10, yp, ": label ", static_cast<int>(y[i]), " of image ", i,
                " is out of range 1..10; the file is corrupt or not an STL-10 label file");
    lab[i] = y[i] - 1;
  }
  std::vector<uint8_t> x = io::read_file(xp);
  DYBAT_CHECK(static_cast<int64_t>(x.size()) == n * kImage, xp, " changed while being read");
  uint8_t* img = s.images.data<uint8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n * 3; ++i) {  // one (image, channel) plane: transpose column-major to row-major
    const uint8_t* src = x.data() + i * 9216;
    uint8_t* dst = img + i * 9216;
    for (int c = 0; c < 96; ++c)
      for (int r = 0; r < 96; ++r) dst[r * 96 + c] = src[c * 96 + r];
  }
  return s;
}

}  // namespace

Dataset read_stl10(const std::string& root, const LogFn& log) {
  const std::string dir = release_dir(root, "stl10_binary", "stl10", "stl10_binary.tar.gz");
  Dataset d;
  d.name = "stl10";
  d.classes = class_names(join(dir, "class_names.txt"), 10, "stl10");
  d.train = read_stl_split(dir, "train", 5000);
  d.test = read_stl_split(dir, "test", 8000);
  note_unofficial(log, join(dir, "train_X.bin"), d.train.size(), 5000);
  note_unofficial(log, join(dir, "test_X.bin"), d.test.size(), 8000);
  return d;
}

}  // namespace dybat
