// State-dict saving and loading (see weights.h).
#include "layers/weights.h"

#include <map>
#include <sstream>

namespace dybat {

void save_weights(const Module& m, const std::string& path) { write_safetensors(path, m.state_dict()); }

void load_weights(Module& m, const std::string& path) { load_state_dict(m, read_safetensors(path).tensors, path); }

namespace {
// "a, b, c and 12 more"
std::string list_names(const std::vector<std::string>& names) {
  std::ostringstream s;
  const size_t shown = std::min<size_t>(names.size(), 8);
  for (size_t i = 0; i < shown; ++i) s << (i ? ", " : "") << names[i];
  if (names.size() > shown) s << " and " << names.size() - shown << " more";
  return s.str();
}
}  // namespace

void load_state_dict(Module& m, const NamedTensors& entries, const std::string& source) {
  std::map<std::string, const Tensor*> by_name;
  for (auto& [name, t] : entries) {
    DYBAT_CHECK(by_name.emplace(name, &t).second, source, ": '", name, "' appears twice");
  }
  auto targets = m.state_dict();

  // Check everything first, so a bad file leaves the module untouched. Names first: a file for
  // another net is best reported by what is missing and what is extra.
  std::vector<std::string> missing, extra;
  std::map<std::string, bool> expected;
  for (auto& [name, t] : targets) {
    expected[name] = true;
    if (!by_name.count(name)) missing.push_back(name);
  }
  for (auto& [name, t] : entries)
    if (!expected.count(name)) extra.push_back(name);
  DYBAT_CHECK(missing.empty() && extra.empty(), source, ": the names do not match the ", m.type_name(), "'s (",
              targets.size(), " expected, ", entries.size(), " in the file)",
              missing.empty() ? "" : "; missing: ", list_names(missing),
              extra.empty() ? "" : "; unexpected: ", list_names(extra));
  for (auto& [name, t] : targets) {
    const Tensor& src = *by_name[name];
    DYBAT_CHECK(src.shape() == t.shape(), source, ": '", name, "' has shape ", shape_str(src.shape()), " but the ",
                m.type_name(), " expects ", shape_str(t.shape()));
    DYBAT_CHECK(is_floating(src.dtype()) == is_floating(t.dtype()), source, ": '", name, "' is ",
                dtype_name(src.dtype()), " but the ", m.type_name(), " holds ", dtype_name(t.dtype()),
                " (floating and integer entries do not mix)");
  }

  for (auto& [name, t] : targets) {
    Tensor dst = t;
    dst.copy_(*by_name[name]);  // converts dtype and crosses devices as needed
  }
}

}  // namespace dybat
