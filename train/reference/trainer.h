// The reference trainer: a small net trained with standard or DyBAT training from the reference
// tier alone, on plain vectors of doubles: no tensors, no autograd, no device (trainer.cpp). It
// is what the fast Trainer (train/trainer.h) computes, written so that it can be read in one go;
// tests/train/reference_trainer_test.cpp runs both on the same net and data and compares them.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/reference/sgd.h"
#include "train/reference/dybat.h"

namespace dybat::ref {

// A two-layer perceptron: logits = fc2(relu(fc1(x))), both layers with a bias.
struct Mlp {
  int64_t inputs = 0, hidden = 0, classes = 0;
  std::vector<double> fc1_weight;  // [hidden, inputs]
  std::vector<double> fc1_bias;    // [hidden]
  std::vector<double> fc2_weight;  // [classes, hidden]
  std::vector<double> fc2_bias;    // [classes]
};

// A training split: `count` samples of `features` values with a label each.
struct Samples {
  int64_t count = 0, features = 0;
  std::vector<double> inputs;   // [count, features]
  std::vector<int64_t> labels;  // [count], each in [0, classes)
};

struct TrainSettings {
  int64_t batch_size = 8;  // batch i is samples [i * batch_size, (i + 1) * batch_size); the rest is dropped
  int64_t epochs = 1;      // the step budget is epochs * (number of batches)
  double delta = 1.0;      // 1: standard training; < 1: DyBAT
  int64_t zeta = -1;       // bound on selection passes (-1: the original's)
  SgdSettings sgd;
};

// Trains `net` in place and returns the trace: each step's batch id and mean loss.
std::vector<ScheduleStep> train_mlp(Mlp& net, const Samples& data, const TrainSettings& settings);

// The mean cross-entropy of `net` over the samples of every full batch.
double mean_loss(const Mlp& net, const Samples& data, int64_t batch_size);

}  // namespace dybat::ref
