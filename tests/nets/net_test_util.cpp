// Net test helpers (see net_test_util.h).
#include "nets/net_test_util.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace dybat::test {

std::string data_file(const std::string& relative) { return std::string(DYBAT_TEST_DATA) + "/" + relative; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  DYBAT_CHECK(f, "cannot open ", path);
  return nlohmann::json::parse(f);
}

std::vector<KeyEntry> read_keys_tsv(const std::string& net) {
  const std::string path = data_file("timm/" + net + ".keys.tsv");
  std::ifstream f(path);
  DYBAT_CHECK(f, "cannot open ", path);
  std::vector<KeyEntry> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::istringstream s(line);
    std::string name, shape, dtype;
    std::getline(s, name, '\t');
    std::getline(s, shape, '\t');
    std::getline(s, dtype, '\t');
    KeyEntry e{name, {}, dtype_from_name(dtype)};
    if (shape != "scalar") {
      std::istringstream ds(shape);
      std::string d;
      while (std::getline(ds, d, 'x')) e.shape.push_back(std::stoll(d));
    }
    out.push_back(e);
  }
  return out;
}

double golden_u(int64_t i, int64_t k) {
  double t = std::sin(12.9898 * static_cast<double>(i) + 78.233 * static_cast<double>(k) + 0.25) * 43758.5453;
  return 2.0 * (t - std::floor(t)) - 1.0;
}

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

double golden_weight(const std::string& name, const Shape& shape, int64_t i, int64_t k) {
  double u = golden_u(i, k);
  if (ends_with(name, "running_var")) return 1.0 + 0.5 * u * u;
  if (ends_with(name, "running_mean")) return 0.05 * u;
  if (shape.size() >= 2) {
    double fan_in = static_cast<double>(shape_numel(shape)) / static_cast<double>(shape[0]);
    return u * std::sqrt(3.0 / fan_in);
  }
  if (ends_with(name, "weight")) return 1.0 + 0.1 * u;
  return 0.1 * u;
}

}  // namespace dybat::test
