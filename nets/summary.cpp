// Net summaries (see summary.h).
#include "nets/summary.h"

#include <cstdio>
#include <sstream>

#include "nets/registry.h"

namespace dybat {

NetSummary summarize_net(const std::string& name, int crop, int num_classes) {
  NetSummary s;
  s.net = canonical_net_name(name);
  DYBAT_CHECK(crop > 0, "summary: crop must be positive, got ", crop);
  Generator g(0);
  auto net = create_net(name, num_classes, g);  // throws, listing the nets, for an unknown name
  s.crop = crop;
  s.num_classes = num_classes;
  s.params = net->parameter_count();
  s.rows = trace_layers(*net, {1, 3, crop, crop});
  s.gflops = forward_gflops(s.rows);
  return s;
}

double forward_gflops(const std::vector<LayerRow>& rows) {
  int64_t macs = 0;
  for (const LayerRow& r : rows) macs += r.macs;
  return 2.0 * static_cast<double>(macs) / 1e9;
}

namespace {
// 11181642 -> "11,181,642"
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}
std::string lpad(const std::string& s, size_t width) {
  return s.size() >= width ? " " + s : std::string(width - s.size(), ' ') + s;
}
}  // namespace

std::string summary_table(const NetSummary& s) {
  size_t wname = 5, wtype = 4, wshape = 6;
  for (auto& r : s.rows) {
    wname = std::max(wname, r.name.size());
    wtype = std::max(wtype, r.type.size());
    wshape = std::max(wshape, shape_str(r.out).size());
  }
  std::ostringstream o;
  o << s.net << ": input [1, 3, " << s.crop << ", " << s.crop << "], " << s.num_classes << " classes\n\n";
  o << pad("layer", wname + 2) << pad("type", wtype + 2) << pad("output", wshape + 2) << lpad("params", 12)
    << lpad("MFLOPs", 14) << "\n";
  for (auto& r : s.rows) {
    char mflops[32];
    std::snprintf(mflops, sizeof mflops, "%.3f", 2.0 * static_cast<double>(r.macs) / 1e6);
    o << pad(r.name, wname + 2) << pad(r.type, wtype + 2) << pad(shape_str(r.out), wshape + 2)
      << lpad(r.params ? grouped(r.params) : "-", 12) << lpad(r.macs ? mflops : "-", 14) << "\n";
  }
  char gflops[32];
  std::snprintf(gflops, sizeof gflops, "%.6f", s.gflops);
  o << "\ntotal: " << grouped(s.params) << " parameters, " << gflops
    << " forward GFLOPs (batch 1; 2 FLOPs per multiply-add of the conv and linear layers)\n";
  return o.str();
}

nlohmann::json summary_json(const NetSummary& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (auto& r : s.rows)
    layers.push_back(
        {{"name", r.name}, {"type", r.type}, {"output", r.out}, {"params", r.params}, {"flops", 2 * r.macs}});
  return {{"net", s.net},       {"crop", s.crop},     {"num_classes", s.num_classes},
          {"params", s.params}, {"gflops", s.gflops}, {"layers", layers}};
}

}  // namespace dybat
