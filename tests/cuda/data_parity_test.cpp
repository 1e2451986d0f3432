// The CUDA batch gather against the CPU one: the same integer resize, Philox augmentation and
// normalisation table, so batches must be identical bit for bit (float32 and float64), with the
// batch id read on the device and no host read; plus datasets loaded straight onto the device.
#include <gtest/gtest.h>

#include <cmath>

#include "core/copy.h"
#include "support/data_files.h"
#include "data/dataset.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;

namespace {

Split to_device(const Split& s, Device d) { return Split{s.images.to(d), s.labels.to(d)}; }

}  // namespace

TEST(CudaParity, DataGatherMatchesCpu) {
  DYBAT_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  struct Case {
    int h, w, crop;
    const char* augment;
  };
  // Stored at the crop (no resize), upsampled (CIFAR 32 -> 128), shrunk (STL 96 -> 64, antialiased),
  // non-square, with every augmentation combination.
  for (Case c : {Case{32, 32, 32, "none"}, Case{32, 32, 128, "crop,flip"}, Case{96, 96, 64, "crop"},
                 Case{10, 14, 9, "flip"}, Case{7, 12, 7, "crop,flip"}, Case{32, 32, 224, "none"}}) {
    Split host = pattern_split(40, c.h, c.w);
    Split dev = to_device(host, gpu);
    const AugmentOptions aug = parse_augment(c.augment);
    BatchLoader cpu_loader(host, 8, c.crop, aug), gpu_loader(dev, 8, c.crop, aug);
    for (DType dt : {DType::Float32, DType::Float64}) {
      for (int64_t k : {0, 4}) {
        Tensor ci = Tensor::empty({8, 3, c.crop, c.crop}, dt), cl = Tensor::empty({8}, DType::Int64);
        Tensor gi = Tensor::empty({8, 3, c.crop, c.crop}, dt, gpu), gl = Tensor::empty({8}, DType::Int64, gpu);
        Tensor gid = Tensor::full({1}, static_cast<double>(k), DType::Int64, gpu);
        cpu_loader.gather(k, ci, cl, 11, 3 + k);
        const TransferCounters before = transfer_counters();
        gpu_loader.gather(gid, gi, gl, 11, 3 + k);
        EXPECT_EQ(transfer_counters().device_to_host, before.device_to_host) << "the batch id stays on the device";
        EXPECT_EQ(transfer_counters().syncs, before.syncs);
        EXPECT_EQ(gl.cpu().to_vector<int64_t>(), cl.to_vector<int64_t>());
        EXPECT_EQ(max_abs_diff(gi.cpu(), ci), 0.0)
            << c.h << "x" << c.w << " -> " << c.crop << " " << c.augment << " " << dtype_name(dt) << " batch " << k;
      }
    }
  }
}

TEST(CudaParity, DataGatherOutOfRangeIdYieldsNaNAndMinusOne) {
  DYBAT_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  Split dev = to_device(pattern_split(10, 4, 4), gpu);
  BatchLoader loader(dev, 5, 4);
  Tensor images = Tensor::empty({5, 3, 4, 4}, DType::Float32, gpu), labels = Tensor::empty({5}, DType::Int64, gpu);
  loader.gather(Tensor::full({1}, 2, DType::Int64, gpu), images, labels);
  for (int64_t l : labels.cpu().to_vector<int64_t>()) EXPECT_EQ(l, -1);
  for (float v : images.cpu().to_vector<float>()) EXPECT_TRUE(std::isnan(v));
}

TEST(CudaParity, DataLoadedOntoTheDevice) {
  DYBAT_REQUIRE_GPU();
  DataOptions o;
  o.dataset = "synthetic";
  o.synthetic_train = 64;
  o.synthetic_test = 32;
  o.permute = true;
  o.seed = 5;
  Dataset host = load_dataset(o);
  o.device = Device::cuda(0);
  Dataset dev = load_dataset(o);
  EXPECT_TRUE(dev.train.images.device().is_cuda());
  EXPECT_TRUE(dev.test.labels.device().is_cuda());
  EXPECT_EQ(dev.train.images.cpu().to_vector<uint8_t>(), host.train.images.to_vector<uint8_t>());
  EXPECT_EQ(dev.test.labels.cpu().to_vector<int64_t>(), host.test.labels.to_vector<int64_t>());
  // The official readers and image folders end on the device the same way.
  TempDir tmp;
  write_cifar10(tmp.path(), 2);
  DataOptions c = options_for("cifar10", tmp.path(), tmp / "cache");
  c.device = Device::cuda(0);
  Dataset cifar = load_dataset(c);
  EXPECT_TRUE(cifar.train.images.device().is_cuda());
  BatchLoader loader(cifar.train, 4, 40, parse_augment("crop,flip"));
  auto [images, labels] = loader.batch(1, 9, 9);
  EXPECT_TRUE(images.device().is_cuda());
  c.device = Device::cpu();
  BatchLoader cpu_loader(load_dataset(c).train, 4, 40, parse_augment("crop,flip"));
  auto [ci, cl] = cpu_loader.batch(1, 9, 9);
  EXPECT_EQ(max_abs_diff(images.cpu(), ci), 0.0);
  EXPECT_EQ(labels.cpu().to_vector<int64_t>(), cl.to_vector<int64_t>());
}
