// Helpers for the net tests: the reference data files and timm's key lists.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"

namespace dybat::test {

// tests/fixtures/<relative>
std::string data_file(const std::string& relative);
nlohmann::json read_json(const std::string& path);

// One line of timm/<net>.keys.tsv: name, shape ("64x3x7x7", "scalar" = []), dtype.
struct KeyEntry {
  std::string name;
  Shape shape;
  DType dtype;
};
std::vector<KeyEntry> read_keys_tsv(const std::string& net);

// The golden weight formula (docs/nets.md section 11), in double:
//   u(i, k) = 2 frac(sin(12.9898 i + 78.233 k + 0.25) * 43758.5453) - 1.
double golden_u(int64_t i, int64_t k);
// Which sin golden_u uses (see net_util.cpp: SLEEF's when installed, else std::sin).
const char* golden_sin_name();
// The value of element i of state_dict entry k named `name` with shape `shape` (before rounding
// to float32), per the README's table.
double golden_weight(const std::string& name, const Shape& shape, int64_t i, int64_t k);

// Sets every state_dict entry of `m` by the golden formula, entry k taking index k (the
// num_batches_tracked entries keep 0 but consume their k), each value rounded to float32 and then
// stored in the entry's dtype. Returns the float64 sum of every value set (the JSON's weight_sum).
double set_golden_weights(Module& m);
// x[i] = float32(1.5 u(i, -7)) in row-major order, stored as `dtype`.
Tensor golden_input(const Shape& shape, DType dtype);
// y[n] = (5 n + 2) % 10, int64.
Tensor golden_labels(int64_t n);

}  // namespace dybat::test
