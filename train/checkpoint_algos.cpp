// The text form of the cuDNN algorithm record (see checkpoint_algos.h).
#include "train/checkpoint_algos.h"

#include <sstream>

#include "core/error.h"

namespace dybat {

std::string conv2d_algorithms_to_text(const std::vector<ConvAlgoRecord>& records) {
  std::ostringstream o;
  for (size_t i = 0; i < records.size(); ++i) {
    if (i) o << ';';
    const ConvAlgoRecord& r = records[i];
    for (size_t k = 0; k < r.key.size(); ++k) o << (k ? "," : "") << r.key[k];
    o << '=';
    for (int d = 0; d < 3; ++d) o << (d ? "/" : "") << r.algo[d] << ':' << r.math[d];
  }
  return o.str();
}

namespace {
// Parses a whole decimal integer (optional '-'); false on anything else.
bool parse_int(const std::string& s, int64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  int64_t x = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (s[i] - '0');
  }
  v = s[0] == '-' ? -x : x;
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}
}  // namespace

std::vector<ConvAlgoRecord> conv2d_algorithms_from_text(const std::string& text) {
  std::vector<ConvAlgoRecord> out;
  if (text.empty()) return out;
  for (const std::string& item : split(text, ';')) {
    auto bad = [&](const char* why) {
      DYBAT_FAIL("conv2d algorithms: malformed record '", item, "' (", why,
                 "; expected \"k0,k1,...=algo:math/algo:math/algo:math\")");
    };
    size_t eq = item.find('=');
    if (eq == std::string::npos) bad("no '='");
    ConvAlgoRecord r;
    for (const std::string& k : split(item.substr(0, eq), ',')) {
      int64_t v;
      if (!parse_int(k, v)) bad("a key element is not an integer");
      r.key.push_back(v);
    }
    std::vector<std::string> dirs = split(item.substr(eq + 1), '/');
    if (dirs.size() != 3) bad("not three directions");
    for (int d = 0; d < 3; ++d) {
      std::vector<std::string> am = split(dirs[d], ':');
      int64_t a, m;
      if (am.size() != 2 || !parse_int(am[0], a) || !parse_int(am[1], m)) bad("a direction is not algo:math");
      if (a < -1 || a > 1000 || m < -1 || m > 1000) bad("an id out of range");
      r.algo[d] = static_cast<int>(a);
      r.math[d] = static_cast<int>(m);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace dybat
