// Helpers for the net tests: the reference data files and timm's key lists.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dybat::test {

// tests/data_files/<relative>
std::string data_file(const std::string& relative);
nlohmann::json read_json(const std::string& path);

// One line of timm/<net>.keys.tsv: name, shape ("64x3x7x7", "scalar" = []), dtype.
struct KeyEntry {
  std::string name;
  Shape shape;
  DType dtype;
};
std::vector<KeyEntry> read_keys_tsv(const std::string& net);

// The golden weight formula of the reference README, in double:
//   u(i, k) = 2 frac(sin(12.9898 i + 78.233 k + 0.25) * 43758.5453) - 1.
double golden_u(int64_t i, int64_t k);
// The value of element i of state_dict entry k named `name` with shape `shape` (before rounding
// to float32), per the README's table.
double golden_weight(const std::string& name, const Shape& shape, int64_t i, int64_t k);

}  // namespace dybat::test
