// The reference tier checked against its own definition: every backward in kernels/reference/
// against central differences of its forward, in double (support/reference_gradcheck.h). The
// fast kernels are then checked against these references in each op's own test.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/reference/activation.h"
#include "kernels/reference/batchnorm.h"
#include "kernels/reference/conv2d.h"
#include "kernels/reference/dropout.h"
#include "kernels/reference/elementwise.h"
#include "kernels/reference/loss.h"
#include "kernels/reference/matmul.h"
#include "kernels/reference/pool.h"
#include "kernels/reference/reduce.h"
#include "support/reference_gradcheck.h"

using namespace dybat;
using dybat::test::Vectors;

namespace {

std::vector<double> random_values(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double& e : v) e = u(rng);
  return v;
}

// n distinct values in a random order (max pooling has no derivative at ties).
std::vector<double> distinct_values(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  for (double& e : v) e = (e - static_cast<double>(n) / 2) * 0.01;
  return v;
}

}  // namespace

TEST(ReferenceGradcheck, Conv2d) {
  const ref::Conv2dShape shapes[] = {
      {2, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // 3x3, padding 1
      {2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1},  // strides 2 and 1, asymmetric kernel
      {1, 2, 8, 7, 2, 2, 3, 2, 1, 1, 2, 3, 2, 1},  // dilation
      {2, 4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},  // two groups
      {2, 3, 6, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3},  // depthwise, stride 2
  };
  for (const ref::Conv2dShape& s : shapes) {
    const size_t x_n = s.batch * s.in_channels * s.in_h * s.in_w;
    const size_t w_n = s.out_channels * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w;
    const size_t out_n = s.batch * s.out_channels * s.out_h() * s.out_w();
    auto forward = [&](const Vectors& in) {
      std::vector<double> out(out_n);
      ref::conv2d_forward(s, in[0].data(), in[1].data(), in[2].data(), out.data());
      return out;
    };
    auto backward = [&](const Vectors& in, const std::vector<double>& dout, Vectors& g) {
      ref::conv2d_backward(s, dout.data(), in[0].data(), in[1].data(), g[0].data(), g[1].data(), g[2].data());
    };
    EXPECT_REF_GRADCHECK(forward, backward,
                         (Vectors{random_values(x_n, 1), random_values(w_n, 2), random_values(s.out_channels, 3)}));
  }
}

TEST(ReferenceGradcheck, BatchNormWithBatchAndRunningStatistics) {
  for (ref::BatchNormShape s : {ref::BatchNormShape{3, 2, 5}, ref::BatchNormShape{4, 3, 1}}) {
    const size_t n = s.batch * s.channels * s.spatial, c = s.channels;
    const std::vector<double> running_mean = random_values(c, 4), running_var = random_values(c, 5, 0.5, 1.5);
    for (bool batch_statistics : {true, false}) {
      // The statistics the forward used, for the backward (recomputed from the inputs given).
      auto run = [&](const Vectors& in, std::vector<double>& mean, std::vector<double>& invstd) {
        std::vector<double> out(n);
        mean.assign(c, 0.0), invstd.assign(c, 0.0);
        if (batch_statistics) {
          ref::batchnorm_forward_train(s, in[0].data(), in[1].data(), in[2].data(), 1e-5, 0.1, nullptr, nullptr,
                                       out.data(), mean.data(), invstd.data());
        } else {
          ref::batchnorm_forward_eval(s, in[0].data(), in[1].data(), in[2].data(), running_mean.data(),
                                      running_var.data(), 1e-5, out.data());
          mean = running_mean;
          ref::batchnorm_invstd(s.channels, running_var.data(), 1e-5, invstd.data());
        }
        return out;
      };
      auto forward = [&](const Vectors& in) {
        std::vector<double> mean, invstd;
        return run(in, mean, invstd);
      };
      auto backward = [&](const Vectors& in, const std::vector<double>& dout, Vectors& g) {
        std::vector<double> mean, invstd;
        run(in, mean, invstd);
        ref::batchnorm_backward(s, batch_statistics, dout.data(), in[0].data(), in[1].data(), mean.data(),
                                invstd.data(), g[0].data(), g[1].data(), g[2].data());
      };
      EXPECT_REF_GRADCHECK(forward, backward,
                           (Vectors{random_values(n, 6, -2, 2), random_values(c, 7, 0.5, 1.5), random_values(c, 8)}));
    }
  }
}

TEST(ReferenceGradcheck, Activations) {
  // Points spread over [-7, 7], none within 0.05 of a kink (0, +-3, 6).
  std::vector<double> x = random_values(40, 9, -7, 7);
  for (double& e : x)
    for (double kink : {-3.0, 0.0, 3.0, 6.0})
      if (std::fabs(e - kink) < 0.05) e = kink + 0.1;
  using A = ref::Activation;
  for (A f : {A::Identity, A::ReLU, A::ReLU6, A::Sigmoid, A::SiLU, A::HardSigmoid, A::HardSwish}) {
    auto forward = [&](const Vectors& in) {
      std::vector<double> out(in[0].size());
      ref::activation_forward(f, static_cast<int64_t>(in[0].size()), in[0].data(), out.data());
      return out;
    };
    auto backward = [&](const Vectors& in, const std::vector<double>& dout, Vectors& g) {
      ref::activation_backward(f, static_cast<int64_t>(in[0].size()), dout.data(), in[0].data(), g[0].data());
    };
    EXPECT_REF_GRADCHECK(forward, backward, Vectors{x});
  }
}

TEST(ReferenceGradcheck, LinearAndMatmul) {
  const int64_t batch = 4, in = 5, out = 3;
  auto linear = [&](const Vectors& v) {
    std::vector<double> y(batch * out);
    ref::linear_forward(batch, in, out, v[0].data(), v[1].data(), v[2].data(), y.data());
    return y;
  };
  auto linear_back = [&](const Vectors& v, const std::vector<double>& dy, Vectors& g) {
    ref::linear_backward(batch, in, out, dy.data(), v[0].data(), v[1].data(), g[0].data(), g[1].data(), g[2].data());
  };
  EXPECT_REF_GRADCHECK(linear, linear_back,
                       (Vectors{random_values(batch * in, 10), random_values(out * in, 11), random_values(out, 12)}));
  auto matmul = [&](const Vectors& v) {
    std::vector<double> y(batch * out);
    ref::matmul_forward(batch, in, out, v[0].data(), v[1].data(), y.data());
    return y;
  };
  auto matmul_back = [&](const Vectors& v, const std::vector<double>& dy, Vectors& g) {
    ref::matmul_backward(batch, in, out, dy.data(), v[0].data(), v[1].data(), g[0].data(), g[1].data());
  };
  EXPECT_REF_GRADCHECK(matmul, matmul_back, (Vectors{random_values(batch * in, 13), random_values(in * out, 14)}));
}

TEST(ReferenceGradcheck, Pooling) {
  const ref::Pool2dShape shapes[] = {{2, 2, 5, 6, 3, 3, 2, 2, 1, 1}, {1, 3, 6, 4, 2, 3, 1, 2, 1, 1}};
  for (const ref::Pool2dShape& s : shapes) {
    const size_t in_n = s.batch * s.channels * s.in_h * s.in_w, out_n = s.batch * s.channels * s.out_h() * s.out_w();
    auto max_forward = [&](const Vectors& v) {
      std::vector<double> out(out_n);
      std::vector<int64_t> argmax(out_n);
      ref::max_pool2d_forward(s, v[0].data(), out.data(), argmax.data());
      return out;
    };
    auto max_backward = [&](const Vectors& v, const std::vector<double>& dout, Vectors& g) {
      std::vector<double> out(out_n);
      std::vector<int64_t> argmax(out_n);
      ref::max_pool2d_forward(s, v[0].data(), out.data(), argmax.data());
      ref::max_pool2d_backward(s, dout.data(), argmax.data(), g[0].data());
    };
    EXPECT_REF_GRADCHECK(max_forward, max_backward, Vectors{distinct_values(in_n, 15)});
    auto avg_forward = [&](const Vectors& v) {
      std::vector<double> out(out_n);
      ref::avg_pool2d_forward(s, v[0].data(), out.data());
      return out;
    };
    auto avg_backward = [&](const Vectors&, const std::vector<double>& dout, Vectors& g) {
      ref::avg_pool2d_backward(s, dout.data(), g[0].data());
    };
    EXPECT_REF_GRADCHECK(avg_forward, avg_backward, Vectors{random_values(in_n, 16)});
  }
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{1, 1}, {3, 2}, {6, 9}}) {
    const int64_t planes = 4, h = 5, w = 7;
    auto forward = [&](const Vectors& v) {
      std::vector<double> out(planes * oh * ow);
      ref::adaptive_avg_pool2d_forward(planes, h, w, oh, ow, v[0].data(), out.data());
      return out;
    };
    auto backward = [&](const Vectors&, const std::vector<double>& dout, Vectors& g) {
      ref::adaptive_avg_pool2d_backward(planes, h, w, oh, ow, dout.data(), g[0].data());
    };
    EXPECT_REF_GRADCHECK(forward, backward, Vectors{random_values(planes * h * w, 17)});
  }
}

TEST(ReferenceGradcheck, DropoutAndCrossEntropy) {
  for (double p : {0.2, 0.7}) {
    auto forward = [&](const Vectors& v) {
      std::vector<double> out(v[0].size());
      ref::dropout_forward(static_cast<int64_t>(v[0].size()), p, 11, 3, v[0].data(), out.data());
      return out;
    };
    auto backward = [&](const Vectors& v, const std::vector<double>& dout, Vectors& g) {
      ref::dropout_backward(static_cast<int64_t>(v[0].size()), p, 11, 3, dout.data(), g[0].data());
    };
    EXPECT_REF_GRADCHECK(forward, backward, Vectors{random_values(42, 18)});
  }
  const std::vector<int64_t> labels{0, 6, 3, 3, 1};
  auto forward = [&](const Vectors& v) {
    std::vector<double> losses(5);
    ref::cross_entropy_forward(5, 7, v[0].data(), labels.data(), losses.data());
    return losses;
  };
  auto backward = [&](const Vectors& v, const std::vector<double>& dl, Vectors& g) {
    ref::cross_entropy_backward(5, 7, dl.data(), v[0].data(), labels.data(), g[0].data());
  };
  EXPECT_REF_GRADCHECK(forward, backward, Vectors{random_values(35, 19, -3, 3)});
}

TEST(ReferenceGradcheck, BroadcastingArithmeticAndSums) {
  const ref::Dims a{2, 3, 4};
  for (ref::Dims b : {ref::Dims{2, 3, 4}, ref::Dims{3, 1}, ref::Dims{4}, ref::Dims{2, 1, 4}, ref::Dims{}})
    for (ref::Binary op : {ref::Binary::Add, ref::Binary::Sub, ref::Binary::Mul, ref::Binary::Div}) {
      auto forward = [&](const Vectors& v) {
        std::vector<double> out(ref::element_count(ref::broadcast_dims(a, b)));
        ref::binary_forward(op, a, v[0].data(), b, v[1].data(), out.data());
        return out;
      };
      auto backward = [&](const Vectors& v, const std::vector<double>& dout, Vectors& g) {
        ref::binary_backward(op, a, v[0].data(), b, v[1].data(), dout.data(), g[0].data(), g[1].data());
      };
      EXPECT_REF_GRADCHECK(forward, backward,
                           (Vectors{random_values(24, 20, 0.5, 2), random_values(ref::element_count(b), 21, 0.5, 2)}));
    }
  for (std::vector<bool> reduced : {std::vector<bool>{true, false, false}, {false, true, true}, {true, true, true}}) {
    auto forward = [&](const Vectors& v) {
      std::vector<double> out(ref::element_count(ref::reduced_dims(a, reduced)));
      ref::sum_forward(a, reduced, 0.5, v[0].data(), out.data());
      return out;
    };
    auto backward = [&](const Vectors&, const std::vector<double>& dout, Vectors& g) {
      ref::sum_backward(a, reduced, 0.5, dout.data(), g[0].data());
    };
    EXPECT_REF_GRADCHECK(forward, backward, Vectors{random_values(24, 22)});
  }
}

TEST(ReferenceGradcheck, TheCheckerCatchesAnAssignedGradient) {
  // A backward that writes "=" where the tier's convention is "+=" must fail.
  auto forward = [](const Vectors& v) { return std::vector<double>{3.0 * v[0][0], 3.0 * v[0][1]}; };
  auto wrong = [](const Vectors&, const std::vector<double>& dout, Vectors& g) {
    g[0][0] = 3.0 * dout[0];
    g[0][1] = 3.0 * dout[1];
  };
  EXPECT_FALSE(test::ref_gradcheck(forward, wrong, Vectors{{0.5, -0.25}}).ok);
  auto right = [](const Vectors&, const std::vector<double>& dout, Vectors& g) {
    g[0][0] += 3.0 * dout[0];
    g[0][1] += 3.0 * dout[1];
  };
  EXPECT_TRUE(test::ref_gradcheck(forward, right, Vectors{{0.5, -0.25}}).ok);
}
