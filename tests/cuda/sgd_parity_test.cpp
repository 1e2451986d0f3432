// CUDA multi-tensor SGD against the CPU update, and the table cache (one upload for a fixed list).
#include "core/copy.h"
#include "cuda/parity_util.h"
#include "kernels/sgd.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, SgdMultiTensor) {
  DYBAT_REQUIRE_GPU();
  // Sizes: several tiles, odd, one element, empty; one tensor without a gradient.
  std::vector<Shape> shapes{{64, 3, 3, 3}, {1000}, {1}, {0}, {7, 13}, {300000}};
  for (SgdOptions opt :
       {SgdOptions{0.1, 0.9, 5e-4, false}, SgdOptions{0.05, 0.9, 0.0, true}, SgdOptions{0.2, 0.0, 1e-3, false}}) {
    std::vector<Tensor> p, g, b, pg, gg, bg;
    for (size_t i = 0; i < shapes.size(); ++i) {
      p.push_back(rand(shapes[i], 10 + i).to(DType::Float32));
      g.push_back(i == 4 ? Tensor() : rand(shapes[i], 20 + i).to(DType::Float32));
      b.push_back(Tensor::zeros(shapes[i]));
      pg.push_back(p.back().to(Device::cuda(0)));
      gg.push_back(g.back().defined() ? g.back().to(Device::cuda(0)) : Tensor());
      bg.push_back(b.back().to(Device::cuda(0)));
    }
    for (int step = 0; step < 3; ++step) {
      sgd_update(p, g, b, opt);
      sgd_update(pg, gg, bg, opt);
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_TRUE(close_to_ref(pg[i], p[i].to(DType::Float64), 1e-6)) << "tensor " << i;
      EXPECT_TRUE(close_to_ref(bg[i], b[i].to(DType::Float64), 1e-6)) << "tensor " << i;
    }
  }
}

TEST(CudaParity, SgdUploadsItsTableOnlyWhenTheListChanges) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda(0);
  std::vector<Tensor> p{Tensor::zeros({5000}, DType::Float32, d), Tensor::zeros({17}, DType::Float32, d)};
  std::vector<Tensor> g{Tensor::ones({5000}, DType::Float32, d), Tensor::ones({17}, DType::Float32, d)};
  std::vector<Tensor> b{Tensor::zeros({5000}, DType::Float32, d), Tensor::zeros({17}, DType::Float32, d)};
  SgdOptions opt{0.1, 0.9, 0.0, false};
  sgd_update(p, g, b, opt);  // may upload
  uint64_t uploads = transfer_counters().host_to_device;
  for (int i = 0; i < 5; ++i) sgd_update(p, g, b, opt);
  EXPECT_EQ(transfer_counters().host_to_device, uploads);
  // A different list is a new table.
  std::vector<Tensor> g2{Tensor::ones({5000}, DType::Float32, d), Tensor()};
  sgd_update(p, g2, b, opt);
  EXPECT_EQ(transfer_counters().host_to_device, uploads + 1);
  // Six steps of b = 0.9 b + 1 and p -= 0.1 b on tensor 1 (its gradient was absent once).
  double pb = 0, pp = 0;
  for (int i = 0; i < 6; ++i) {
    pb = 0.9 * pb + 1;
    pp -= 0.1 * pb;
  }
  EXPECT_NEAR(p[1].cpu().to_vector<float>()[0], pp, 1e-5);
}
