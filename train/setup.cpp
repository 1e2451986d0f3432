// Device, dataset and class-count resolution for the programs (see setup.h).
#include "train/setup.h"

#include <cstdio>

namespace dybat {

Device resolve_device(const std::string& text) {
  if (text.empty()) return cuda_available() ? Device::cuda(0) : Device::cpu();
  Device d = Device::parse(text);
  if (d.is_cuda()) {
    DYBAT_CHECK(cuda_available(), "--device ", text, ": no usable CUDA device",
                " (this build has no CUDA backend, or no GPU is visible); use --device cpu");
    DYBAT_CHECK(d.index < cuda_device_count(), "--device ", text, ": only ", cuda_device_count(),
                " CUDA device(s) present");
  }
  return d;
}

Dataset load_run_dataset(const TrainConfig& c, Device device, bool notices) {
  DataOptions o;
  o.dataset = c.dataset;
  o.root = c.data;
  o.crop = c.crop;
  o.labels = c.labels;
  o.order = c.order;
  o.permute = c.permute;
  o.cache_dir = c.cache_dir;
  o.seed = c.seed;
  o.train_limit = c.train_limit;
  o.test_limit = c.test_limit;
  o.device = device;
  // load_dataset announces loudly when it falls back to the synthetic set.
  return load_dataset(o, [notices](const std::string& msg) {
    if (notices) std::fprintf(stderr, "dybat: %s\n", msg.c_str());
  });
}

int resolve_classes(const TrainConfig& c, const Dataset& ds) {
  if (c.classes == 0) return ds.num_classes();
  DYBAT_CHECK(c.classes >= ds.num_classes(), "--classes ", c.classes, " is fewer than the ", ds.num_classes(),
              " classes of ", ds.name);
  return c.classes;
}

}  // namespace dybat
