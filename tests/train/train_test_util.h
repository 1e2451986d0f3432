// Helpers for the training tests, so they do not depend on the big nets or on datasets: a small
// net (two linear layers with a ReLU on flattened inputs), Gaussian clusters (one per class) as
// data, the original script's batch selection (from the reference tier), and temporary folders.
#pragma once

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/philox.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "layers/module.h"
#include "train/batches.h"
#include "train/reference/dybat.h"

namespace dybat::test {

class TinyLinear : public Module {
 public:
  TinyLinear(int64_t in, int64_t out, Generator& g) : Module("Linear") {
    double bound = 1.0 / std::sqrt(static_cast<double>(in));
    weight = register_parameter("weight", Tensor::uniform({out, in}, -bound, bound, g));
    bias = register_parameter("bias", Tensor::uniform({out}, -bound, bound, g));
  }
  Tensor forward(const Tensor& x) override { return linear(x, weight, bias); }
  Tensor weight, bias;
};

// fc1 -> relu -> fc2. With poison_at > 0 the poison_at-th forward in training mode returns NaN
// logits (a host-side count: lets tests provoke a non-finite loss at a known step).
class TinyNet : public Module {
 public:
  TinyNet(int64_t in, int64_t hidden, int64_t classes, uint64_t seed) : Module("TinyNet") {
    Generator g(seed);
    fc1 = register_module("fc1", std::make_shared<TinyLinear>(in, hidden, g));
    fc2 = register_module("fc2", std::make_shared<TinyLinear>(hidden, classes, g));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*fc2)(relu((*fc1)(x.flatten(1))));
    if (is_training() && ++train_forwards == poison_at) y = mul(y, std::numeric_limits<double>::quiet_NaN());
    return y;
  }
  std::shared_ptr<TinyLinear> fc1, fc2;
  int64_t poison_at = 0;
  int64_t train_forwards = 0;
};

// n samples of dimension d in `classes` Gaussian clusters (centres fixed; `seed` draws the noise);
// labels cycle with a stride so every batch mixes classes. float32 on `device`.
inline std::pair<Tensor, Tensor> clusters(int64_t n, int64_t d, int64_t classes, uint64_t seed,
                                          Device device = Device::cpu()) {
  Generator gc(12345), g(seed);
  Tensor centers = Tensor::normal({classes, d}, 0.0, 1.0, gc);
  Tensor noise = Tensor::normal({n, d}, 0.0, 0.8, g);
  std::vector<float> x = noise.to_vector<float>(), c = centers.to_vector<float>();
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    y[i] = (i * 7 + i / 5) % classes;
    for (int64_t j = 0; j < d; ++j) x[i * d + j] += c[y[i] * d + j];
  }
  return {Tensor::from_vector(x, {n, d}).to(device), Tensor::from_vector(y, {n}).to(device)};
}

// The original's selection, from the reference tier (train/reference/dybat.h): the k ids with
// the highest score (ties to the lower id), visited in ascending id order.
inline std::vector<int64_t> reference_top_k(const std::vector<float>& score, int64_t k) {
  return ref::hardest_batches(std::vector<double>(score.begin(), score.end()), k);
}

// n losses with ties and a spread: float32 values on a coarse grid (multiples of 1/8 up to 5).
inline std::vector<float> grid_losses(std::mt19937& rng, int64_t n) {
  std::uniform_int_distribution<int> d(0, 40);
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<float>(d(rng)) * 0.125f);
  return v;
}

// A fresh empty folder under the build tree for one test.
inline std::string temp_dir(const std::string& name) {
  std::filesystem::path p = std::filesystem::temp_directory_path() / ("dybat_test_" + name + "_" +
                                                                      std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

}  // namespace dybat::test
