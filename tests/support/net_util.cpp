// Net test helpers (see net_util.h).
#include "support/paths.h"
#include "support/net_util.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace dybat::test {

std::string data_file(const std::string& relative) { return dybat::test::test_data_dir() + "/" + relative; }

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

namespace {
using SinFn = double (*)(double);
struct ReferenceSin {
  SinFn fn = nullptr;
  const char* name = "the C library's sin";
};

// The reference values were made with PyTorch's vectorised float64 sin (SLEEF's 1-ulp sin with
// FMA). It differs from the C library's sin in the last bit for a small fraction of arguments,
// and after rounding to float32 that moves a few hundred weights of a large net by one float32
// ulp. Float32 results cannot tell; float64 ones can (resnet50's float64 train logits then agree
// to ~1e-7 instead of ~1e-13). So when libsleef is installed we use the very same function,
// SLEEF's scalar FMA variant (bit-identical to its AVX2/AVX-512 ones), and otherwise fall back to
// std::sin, which keeps every check well inside its tolerance.
const ReferenceSin& reference_sin() {
  static const ReferenceSin r = [] {
    ReferenceSin out;
    // DYBAT_GOLDEN_SIN=libm forces the fallback (to check that it, too, passes).
    if (const char* env = std::getenv("DYBAT_GOLDEN_SIN"); env && std::string(env) == "libm") return out;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("fma")) return out;
    void* lib = ::dlopen("libsleef.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return out;
    if (void* f = ::dlsym(lib, "Sleef_sind1_u10purecfma")) {
      out.fn = reinterpret_cast<SinFn>(f);
      out.name = "SLEEF's u10 sin (as PyTorch's vectorised sin)";
    }
#endif
    return out;
  }();
  return r;
}
}  // namespace

const char* golden_sin_name() { return reference_sin().name; }

double golden_u(int64_t i, int64_t k) {
  // volatile keeps the compiler from fusing a multiply and an add into one FMA (which rounds
  // once instead of twice): the formula is defined with every operation rounded.
  volatile double a = 12.9898 * static_cast<double>(i);
  volatile double b = 78.233 * static_cast<double>(k);
  const double arg = a + b + 0.25;
  volatile double t = (reference_sin().fn ? reference_sin().fn(arg) : std::sin(arg)) * 43758.5453;
  return 2.0 * (t - std::floor(t)) - 1.0;
}

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

double golden_weight(const std::string& name, const Shape& shape, int64_t i, int64_t k) {
  const double u = golden_u(i, k);
  if (ends_with(name, "running_var")) {
    volatile double half_u2 = 0.5 * u * u;  // no FMA, as above
    return 1.0 + half_u2;
  }
  if (ends_with(name, "running_mean")) return 0.05 * u;
  if (shape.size() >= 2) {
    double fan_in = static_cast<double>(shape_numel(shape)) / static_cast<double>(shape[0]);
    return u * std::sqrt(3.0 / fan_in);
  }
  if (ends_with(name, "weight")) {
    volatile double tenth_u = 0.1 * u;
    return 1.0 + tenth_u;
  }
  return 0.1 * u;
}

double set_golden_weights(Module& m) {
  auto sd = m.state_dict();
  double total = 0;
  for (size_t k = 0; k < sd.size(); ++k) {
    auto& [name, t] = sd[k];
    if (!is_floating(t.dtype())) continue;  // num_batches_tracked stays 0
    std::vector<float> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) {
      v[i] = static_cast<float>(golden_weight(name, t.shape(), i, static_cast<int64_t>(k)));
      total += v[i];
    }
    Tensor dst = t;
    dst.copy_(Tensor::from_vector(v, t.shape()));
  }
  return total;
}

Tensor golden_input(const Shape& shape, DType dtype) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(1.5 * golden_u(static_cast<int64_t>(i), -7));
  return Tensor::from_vector(v, shape).to(dtype);
}

Tensor golden_labels(int64_t n) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[i] = (5 * i + 2) % 10;
  return Tensor::from_vector(y, {n});
}

}  // namespace dybat::test
