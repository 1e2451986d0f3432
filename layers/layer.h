// Layer: a Module that can also trace its output shape and cost from an input shape alone.
//
// Tracing runs no op: each leaf layer computes its output shape and multiply-accumulates from
// the input shape, and composite layers trace their children in forward order. This is what
// tools/summary prints, and it is cheap enough to answer "how many FLOPs at 128 px" instantly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace dybat {

// One leaf layer in a trace: its dotted name, type, output shape, own parameters and MACs.
struct LayerRow {
  std::string name;
  std::string type;
  Shape out;
  int64_t params = 0;
  int64_t macs = 0;  // multiply-accumulates (conv and linear only; see docs/nets.md section 0)
};

class ShapeTrace {
 public:
  // Traces child `name` of the module currently being traced (a Layer or a Sequential of them)
  // on input shape `in`, and returns its output shape.
  Shape child(const std::string& name, const Module& m, const Shape& in);
  // Records the current module as a leaf row.
  void leaf(const Module& m, const Shape& out, int64_t macs);
  const std::vector<LayerRow>& rows() const { return rows_; }

 private:
  std::string prefix_;
  std::vector<LayerRow> rows_;
};

class Layer : public Module {
 public:
  using Module::Module;
  // Output shape for input shape `in`; leaf layers add their row to `t`.
  virtual Shape trace(const Shape& in, ShapeTrace& t) const = 0;
};

// Traces a whole module (a Layer or a Sequential of Layers) from the top.
std::vector<LayerRow> trace_layers(const Module& m, const Shape& in);

// Shape checks shared by the layers' forward and trace.
void check_nchw(const Shape& s, int64_t channels, const char* layer);
// Output size of a sliding window (conv or pool, dilation 1, floor mode); throws if it is < 1.
int64_t window_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, const char* layer);

}  // namespace dybat
