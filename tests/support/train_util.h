// Helpers for the training tests, so they do not depend on the big nets or on datasets: a small
// net (two linear layers with a ReLU on flattened inputs), Gaussian clusters (one per class) as
// data, the original script's batch selection (from the reference tier), temporary folders; and
// for the trainer tests on both devices, the small problem and configuration they share, and
// comparisons of what two runs wrote that allow for what legitimately differs (wall-clock time,
// near-ties).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/philox.h"
#include "core/safetensors.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "layers/module.h"
#include "train/batches.h"
#include "train/reference/dybat.h"
#include "train/selection.h"
#include "train/trainer.h"

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

// ---- the trainer tests' problem (tests/train/trainer_test.cpp, tests/cuda/trainer_cuda_test.cpp) ----

constexpr int64_t kDim = 6, kClasses = 4, kBatch = 8;

// 96 training and 40 test samples in batches of 8 (12 and 5 batches).
struct Problem {
  std::unique_ptr<TensorBatches> train, test;
  explicit Problem(Device d = Device::cpu(), int64_t n_train = 96, int64_t n_test = 40) {
    auto [xt, yt] = clusters(n_train, kDim, kClasses, 1, d);
    auto [xv, yv] = clusters(n_test, kDim, kClasses, 2, d);
    train = std::make_unique<TensorBatches>(xt, yt, kBatch);
    test = std::make_unique<TensorBatches>(xv, yv, kBatch);
  }
};

inline TrainConfig config(double delta, int64_t epochs) {
  TrainConfig c;
  c.net = "tiny";
  c.delta = delta;
  c.epochs = epochs;
  c.batch_size = kBatch;
  c.lr = 0.05;
  c.flush_seconds = 0;  // flush only at evaluations: deterministic host traffic
  return c;
}

inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Drops the two timing columns of metrics.csv.
inline std::string without_timing(const std::string& csv) {
  std::string out;
  for (const std::string& l : lines(csv)) {
    size_t cut = l.size();
    for (int i = 0; i < 2; ++i) cut = l.rfind(',', cut - 1);
    out += l.substr(0, cut) + "\n";
  }
  return out;
}

inline TrainHooks step_hook(std::function<void(int64_t)> f) {
  TrainHooks h;
  h.after_step = std::move(f);
  return h;
}

// ---- comparing what two runs wrote ----

// The metadata of a checkpoint file that differs between two runs of the same work: the
// wall-clock time, and the CRC-32 taken over the file (which holds that time).
inline const std::set<std::string>& volatile_checkpoint_fields() {
  static const std::set<std::string> fields = {"elapsed_s", "crc32"};
  return fields;
}

// "" when the two safetensors files hold the same tensors (names, order, dtypes, shapes, bytes)
// and the same metadata apart from volatile_checkpoint_fields(); otherwise the first difference.
inline std::string checkpoint_difference(const std::string& a_path, const std::string& b_path) {
  const SafetensorsContents a = read_safetensors(a_path), b = read_safetensors(b_path);
  if (a.tensors.size() != b.tensors.size())
    return std::to_string(a.tensors.size()) + " tensors against " + std::to_string(b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [an, at] = a.tensors[i];
    const auto& [bn, bt] = b.tensors[i];
    if (an != bn) return "tensor " + std::to_string(i) + " is '" + an + "' against '" + bn + "'";
    if (at.dtype() != bt.dtype() || at.shape() != bt.shape())
      return "tensor '" + an + "' is " + dtype_name(at.dtype()) + " " + shape_str(at.shape()) + " against " +
             dtype_name(bt.dtype()) + " " + shape_str(bt.shape());
    const size_t bytes = static_cast<size_t>(at.numel()) * dtype_size(at.dtype());
    if (bytes && std::memcmp(at.data_ptr(), bt.data_ptr(), bytes) != 0) return "tensor '" + an + "' differs";
  }
  auto kept = [](const SafetensorsMetadata& m) {
    SafetensorsMetadata out;
    for (const auto& kv : m)
      if (!volatile_checkpoint_fields().count(kv.first)) out.push_back(kv);
    std::sort(out.begin(), out.end());
    return out;
  };
  const SafetensorsMetadata am = kept(a.metadata), bm = kept(b.metadata);
  for (size_t i = 0; i < std::max(am.size(), bm.size()); ++i) {
    const std::string ak = i < am.size() ? am[i].first + "=" + am[i].second : "(nothing)";
    const std::string bk = i < bm.size() ? bm[i].first + "=" + bm[i].second : "(nothing)";
    if (ak != bk) return "metadata " + ak + " against " + bk;
  }
  return "";
}

// Two traces of one DyBAT run (b batches, k per selection pass) on two devices, `ref` the CPU's.
// Each step must train the same batch with a loss within tol (|a - b| <= tol (1 + |a|)). A
// selection pass may choose other batches only at a near-tie: each batch one pass chose and the
// other did not must have a score (ref's) within tol of each batch the other chose instead, an
// order rounding may break either way; where scores are apart by more, the choice must be the
// same. After such a pass the runs train on different batches, so the comparison ends there.
struct ScheduleMatch {
  std::string error;          // "" when the traces agree as far as they are compared
  int64_t compared_steps = 0;
  int64_t near_tie_step = 0;  // step (from 1) of the pass that went apart at a near-tie, 0 if none
};

inline ScheduleMatch match_schedules(const std::vector<TraceRow>& ref, const std::vector<TraceRow>& got, int64_t b,
                                     int64_t k, double tol) {
  ScheduleMatch m;
  if (ref.size() != got.size()) {
    m.error = std::to_string(ref.size()) + " steps against " + std::to_string(got.size());
    return m;
  }
  std::vector<double> score(static_cast<size_t>(b), 0.0);
  const int64_t n = static_cast<int64_t>(ref.size());
  for (int64_t s = 0; s < n; ++s) {
    if (s >= b && (s - b) % k == 0) {  // a selection pass starts: compare the chosen sets
      std::set<int64_t> r, g;
      for (int64_t i = s; i < std::min(n, s + k); ++i) {
        r.insert(ref[i].batch_id);
        g.insert(got[i].batch_id);
      }
      if (r != g) {
        for (int64_t x : r)
          for (int64_t y : g)
            if (!g.count(x) && !r.count(y) && std::abs(score[x] - score[y]) > tol * (1 + std::abs(score[x]))) {
              m.error = "step " + std::to_string(s + 1) + ": batch " + std::to_string(x) + " (score " +
                        std::to_string(score[x]) + ") chosen on one side, batch " + std::to_string(y) + " (score " +
                        std::to_string(score[y]) + ") on the other, scores apart by more than the tolerance";
              return m;
            }
        m.near_tie_step = s + 1;
        return m;
      }
    }
    const TraceRow &a = ref[s], &c = got[s];
    if (a.step != c.step || a.batch_id != c.batch_id) {
      m.error = "step " + std::to_string(s + 1) + " trains batch " + std::to_string(a.batch_id) + " against " +
                std::to_string(c.batch_id);
      return m;
    }
    if (!(std::abs(a.loss - c.loss) <= tol * (1 + std::abs(a.loss)))) {
      m.error = "step " + std::to_string(s + 1) + ": loss " + std::to_string(a.loss) + " against " +
                std::to_string(c.loss);
      return m;
    }
    score[a.batch_id] = a.loss;
    m.compared_steps = s + 1;
  }
  return m;
}

// The rows of logits [N, C] (float, any device) whose two highest values are within tol
// (|a - b| <= tol (1 + |a|)): samples whose top-1 prediction rounding may flip.
inline int64_t near_tie_rows(const Tensor& logits, double tol) {
  const std::vector<double> v = logits.to(DType::Float64).cpu().to_vector<double>();
  const int64_t rows = logits.size(0), cols = logits.size(1);
  int64_t ties = 0;
  for (int64_t i = 0; i < rows; ++i) {
    if (cols < 2) break;
    std::vector<double> row(v.begin() + i * cols, v.begin() + (i + 1) * cols);
    std::partial_sort(row.begin(), row.begin() + 2, row.end(), std::greater<double>());
    if (row[0] - row[1] <= tol * (1 + std::abs(row[0]))) ++ties;
  }
  return ties;
}

}  // namespace dybat::test
