// DyBAT, the reference: the training schedule as a plain host loop (dybat.cpp), with the scores
// in a vector on the host. The fast version keeps the scores and the chosen ids in device memory
// and picks them with kernels (train/selection.h); docs/algorithm.md states the algorithm.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace dybat::ref {

// k = int(delta * b), computed in double as the original script (0.29 * 100 gives 28); throws
// std::invalid_argument unless delta is in (0, 1] and k >= 1.
int64_t batches_per_pass(double delta, int64_t num_batches);
// The number of training steps: min(epochs * b, b + zeta * k); zeta < 0 means the original's
// bound on selection passes, 50 * int((epochs - 1) / delta).
int64_t step_budget(int64_t num_batches, double delta, int64_t epochs, int64_t zeta);

// The k batch ids with the highest score, in ascending id order. Ties go to the lower id and a
// NaN score counts as the highest, so exactly k ids come back whatever the scores.
std::vector<int64_t> hardest_batches(const std::vector<double>& score, int64_t k);

struct ScheduleStep {
  int64_t step;      // from 1
  int64_t batch_id;  // the batch this step trained on
  double loss;       // that batch's mean loss in this step's forward pass (its new score)
};

// Runs DyBAT: calls train_step(batch_id) once per step in the schedule's order; train_step does
// one training step on that batch and returns its mean loss. delta = 1 is standard training.
std::vector<ScheduleStep> run_dybat(int64_t num_batches, double delta, int64_t epochs, int64_t zeta,
                                    const std::function<double(int64_t batch_id)>& train_step);

}  // namespace dybat::ref
