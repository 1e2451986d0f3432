// CUDA multi-tensor SGD against the reference update (kernels/reference/sgd.h), and the table cache
// (one upload for a fixed list), and the rate read from a tensor.
#include "core/copy.h"
#include "kernels/reference/sgd.h"
#include "kernels/sgd.h"
#include "support/kernel_cases.h"
#include "support/parity_util.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaParity, SgdMultiTensor) {
  DYBAT_REQUIRE_GPU();
  // Sizes: several tiles, odd, one element, empty; one tensor without a gradient.
  std::vector<Shape> shapes{{64, 3, 3, 3}, {1000}, {1}, {0}, {7, 13}, {300000}};
  for (SgdOptions opt :
       {SgdOptions{0.1, 0.9, 5e-4, false}, SgdOptions{0.05, 0.9, 0.0, true}, SgdOptions{0.2, 0.0, 1e-3, false}}) {
    // The reference in double from the same float32 values: p, b and the gradients g as vectors.
    std::vector<Tensor> pg, gg, bg;
    std::vector<std::vector<double>> p, g, b;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor p32 = rand(shapes[i], 10 + i).to(DType::Float32);
      Tensor g32 = i == 4 ? Tensor() : rand(shapes[i], 20 + i).to(DType::Float32);
      p.push_back(p32.to_vector<double>());
      g.push_back(g32.defined() ? g32.to_vector<double>() : std::vector<double>());
      b.push_back(std::vector<double>(p.back().size(), 0.0));
      pg.push_back(p32.to(Device::cuda(0)));
      gg.push_back(g32.defined() ? g32.to(Device::cuda(0)) : Tensor());
      bg.push_back(Tensor::zeros(shapes[i], DType::Float32, Device::cuda(0)));
    }
    const ref::SgdSettings settings{opt.lr, opt.momentum, opt.weight_decay, opt.nesterov};
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < shapes.size(); ++i)
        if (gg[i].defined())  // a tensor without a gradient is skipped
          ref::sgd_step(settings, static_cast<int64_t>(p[i].size()), p[i].data(), g[i].data(), b[i].data(), step == 0);
      sgd_update(pg, gg, bg, opt);
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_TRUE(close_to_ref(pg[i], Tensor::from_vector(p[i], shapes[i]), 1e-6)) << "tensor " << i;
      EXPECT_TRUE(close_to_ref(bg[i], Tensor::from_vector(b[i], shapes[i]), 1e-6)) << "tensor " << i;
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

TEST(CudaParity, SgdLearningRateFromATensor) {
  DYBAT_REQUIRE_GPU();
  std::vector<Tensor> a = sgd_three_steps(Device::cuda(), true), b = sgd_three_steps(Device::cuda(), false),
                      c = sgd_three_steps(Device::cpu(), false);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>());  // the same kernel, the same rate
    EXPECT_LE(test::max_abs_diff(a[i].cpu(), c[i]), 1e-6);
  }
}
