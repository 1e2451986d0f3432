// load_dataset: picks the reader (or detects the dataset under the root), then applies the fixed
// sample order, the optional seeded permutation and the limits, and moves the splits to the device.
#include "data/dataset.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "core/philox.h"
#include "data/io.h"
#include "data/readers.h"

namespace fs = std::filesystem;

namespace dybat {

namespace {

// The fixed order of image folders does not depend on --seed: it plays the part of a dataset's
// own order (as CIFAR's), so runs with different seeds see the same batches.
constexpr uint64_t kFolderOrderSeed = 0x464f4c4445524f52ull;
constexpr uint64_t kPermuteStream = 0x5045524d00000000ull;

// A uniform random permutation of 0..n-1 (Fisher-Yates), a pure function of (seed, stream).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(philox_uniform(seed, stream, static_cast<uint64_t>(n - 1 - i)) * (i + 1));
    std::swap(idx[i], idx[j]);
  }
  return idx;
}

// Samples of a CPU split in the order `idx`.
Split take(const Split& s, const std::vector<int64_t>& idx) {
  const int64_t n = static_cast<int64_t>(idx.size());
  const int64_t per = s.images.numel() / std::max<int64_t>(s.size(), 1);
  Split out;
  out.images = Tensor::empty({n, s.images.size(1), s.images.size(2), s.images.size(3)}, DType::UInt8);
  out.labels = Tensor::empty({n}, DType::Int64);
  const uint8_t* src = s.images.data<uint8_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  const int64_t* ls = s.labels.data<int64_t>();
  int64_t* ld = out.labels.data<int64_t>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    std::copy(src + idx[i] * per, src + (idx[i] + 1) * per, dst + i * per);
    ld[i] = ls[idx[i]];
  }
  return out;
}

Split limit(const Split& s, int64_t n, const char* which) {
  DYBAT_CHECK(n >= 0, "the ", which, " limit must be >= 0 (0 = all), got ", n);
  if (n == 0 || n >= s.size()) return s;
  return Split{s.images.slice(0, n).clone(), s.labels.slice(0, n).clone()};
}

std::string detect(const DataOptions& opt, const LogFn& log) {
  const std::string& root = opt.root;
  auto has = [&](const char* sub) { return io::is_dir((fs::path(root) / sub).string()); };
  if (has("cifar-10-batches-bin")) return "cifar10";
  if (has("cifar-100-binary")) return "cifar100";
  if (has("stl10_binary")) return "stl10";
  if (has("train") || has("test")) return "folder";
  for (const char* pickle : {"cifar-10-batches-py", "cifar-100-python"})
    DYBAT_CHECK(!has(pickle), "data root ", root, " holds ", pickle,
                "/, torchvision's python-pickle release, but dybat "
                "reads the binary release; get it with: tools/fetch-data ",
                std::string(pickle).find("100") != std::string::npos ? "cifar100" : "cifar10", " --data ", root);
  if (log) {
    log("NOTICE: *** no dataset found under '" + root + "'" + (io::is_dir(root) ? "" : " (no such folder)") +
        " (looked for cifar-10-batches-bin/, cifar-100-binary/, stl10_binary/, train/ + test/) ***");
    log("NOTICE: *** using the built-in SYNTHETIC dataset (" + std::to_string(opt.synthetic_train) + " train / " +
        std::to_string(opt.synthetic_test) + " test images, 10 classes): results say nothing about real images ***");
    log("NOTICE: *** get real data with: tools/fetch-data cifar10 --data " + root + " ***");
  }
  return "synthetic";
}

}  // namespace

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = {"cifar10", "cifar100", "stl10", "folder", "synthetic"};
  return names;
}

Dataset load_dataset(const DataOptions& opt, const std::function<void(const std::string&)>& log) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string name = opt.dataset.empty() ? detect(opt, log) : opt.dataset;
  DYBAT_CHECK(opt.order == "shuffled" || opt.order == "file", "--order must be 'shuffled' or 'file', got '", opt.order,
              "'");
  Dataset d;
  if (name == "cifar10") {
    d = read_cifar10(opt.root, log);
  } else if (name == "cifar100") {
    d = read_cifar100(opt.root, opt.labels, log);
  } else if (name == "stl10") {
    d = read_stl10(opt.root, log);
  } else if (name == "folder") {
    d = read_image_folder(opt, log);
  } else if (name == "synthetic") {
    // Each image is a function of its index alone: unpermuted, a limited split needs only its first
    // `limit` images, the same ones the whole set starts with.
    auto needed = [&](int64_t n, int64_t lim) { return !opt.permute && lim > 0 && lim < n ? lim : n; };
    d = make_synthetic(needed(opt.synthetic_train, opt.train_limit), needed(opt.synthetic_test, opt.test_limit),
                       opt.seed);
  } else {
    DYBAT_FAIL("unknown dataset '", name, "' (expected cifar10, cifar100, stl10, folder or synthetic)");
  }
  // Image folders list samples class by class, which would make every batch a single class:
  // by default they are put once into a fixed pseudo-random order (--order file keeps it).
  if (name == "folder" && opt.order == "shuffled") {
    d.train = take(d.train, seeded_permutation(d.train.size(), kFolderOrderSeed, 0));
    d.test = take(d.test, seeded_permutation(d.test.size(), kFolderOrderSeed, 1));
  }
  if (opt.permute) {
    d.train = take(d.train, seeded_permutation(d.train.size(), opt.seed, kPermuteStream));
    d.test = take(d.test, seeded_permutation(d.test.size(), opt.seed, kPermuteStream + 1));
  }
  d.train = limit(d.train, opt.train_limit, "train");
  d.test = limit(d.test, opt.test_limit, "test");
  if (opt.device != Device::cpu()) {
    for (Split* s : {&d.train, &d.test}) {
      s->images = s->images.to(opt.device);
      s->labels = s->labels.to(opt.device);
    }
  }
  if (log) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f s",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    log("dataset " + d.name + ": " + std::to_string(d.train.size()) + " train / " + std::to_string(d.test.size()) +
        " test images of " + std::to_string(d.train.images.size(2)) + "x" + std::to_string(d.train.images.size(3)) +
        ", " + std::to_string(d.num_classes()) + " classes, on " + opt.device.str() + " (loaded in " + secs + ")");
  }
  return d;
}

}  // namespace dybat
