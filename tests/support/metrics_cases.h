// Batches the metric tests share (tests/train/metrics_test.cpp, tests/cuda/metrics_parity_test.cpp):
// logits and labels as host vectors, one run of the accumulator, and the first worked example of
// docs/data-and-metrics.md section 3.4.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "train/metrics.h"

namespace dybat::test {

struct MetricsBatch {
  std::vector<float> logits;
  std::vector<int64_t> labels;
  int64_t n, c;
};

// Values of one batch through the accumulator (fractions; loss of all-zero losses).
inline std::vector<double> metrics_of(const MetricsBatch& b, int64_t top_k, Device d = Device::cpu()) {
  Tensor z = Tensor::from_vector(b.logits, {b.n, b.c}).to(d);
  Tensor y = Tensor::from_vector(b.labels, {b.n}).to(d);
  Tensor l = Tensor::zeros({b.n}, DType::Float32, d);
  Tensor acc = Tensor::zeros({5}, DType::Float64, d);
  metrics_accumulate(z, y, l, top_k, acc);
  return acc.to_vector<double>();
}

inline const MetricsBatch kExample1{{2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -2.0f, 0.1f, 3.0f, 0.2f, 0.3f, 0.4f, 0.5f,
                       1.0f, 2.0f, 0.0f, 3.0f, -1.0f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 5.0f,
                       4.0f, 1.0f, 2.0f, 3.0f, 0.0f, -1.0f, 0.3f, 0.2f, 0.1f, 0.0f, 1.0f, -0.5f},
                      {0, 1, 1, 5, 2, 5},
                      6,
                      6};

}  // namespace dybat::test
