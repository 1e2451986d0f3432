// Shape tracing through layers and Sequential containers (see layer.h).
#include "layers/layer.h"

namespace dybat {

namespace {
Shape trace_any(const Module& m, const Shape& in, ShapeTrace& t) {
  if (auto* layer = dynamic_cast<const Layer*>(&m)) return layer->trace(in, t);
  if (dynamic_cast<const Sequential*>(&m)) {
    Shape s = in;
    for (auto& [name, child] : m.children()) s = t.child(name, *child, s);
    return s;
  }
  DYBAT_FAIL("cannot trace shapes through a ", m.type_name(), " (not a Layer)");
}
}  // namespace

Shape ShapeTrace::child(const std::string& name, const Module& m, const Shape& in) {
  std::string saved = prefix_;
  prefix_ = prefix_.empty() ? name : prefix_ + "." + name;
  Shape out = trace_any(m, in, *this);
  prefix_ = saved;
  return out;
}

void ShapeTrace::leaf(const Module& m, const Shape& out, int64_t macs) {
  int64_t params = 0;
  for (auto& [name, t] : m.own_parameters()) params += t.numel();
  rows_.push_back({prefix_, m.type_name(), out, params, macs});
}

std::vector<LayerRow> trace_layers(const Module& m, const Shape& in) {
  ShapeTrace t;
  trace_any(m, in, t);
  return t.rows();
}

void check_nchw(const Shape& s, int64_t channels, const char* layer) {
  DYBAT_CHECK(s.size() == 4 && s[1] == channels, layer, ": expected an [N, ", channels, ", H, W] input, got ",
              shape_str(s));
}

int64_t window_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, const char* layer) {
  int64_t out = (in + 2 * pad - kernel) / stride + 1;
  DYBAT_CHECK(in + 2 * pad >= kernel && out >= 1, layer, ": input size ", in, " is too small for kernel ", kernel,
              " with padding ", pad);
  return out;
}

}  // namespace dybat
