// Net summaries: parameters, output shapes and forward FLOPs per layer, from shape tracing alone
// (no forward pass), for tools/summary. FLOPs follow docs/nets.md section 0: 2 per multiply-add of
// every Conv2d and Linear, batch 1; BN, activations, pooling and adds are not counted.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace dybat {

struct NetSummary {
  std::string net;  // canonical name
  int crop = 0;     // input H = W
  int num_classes = 0;
  int64_t params = 0;
  double gflops = 0;
  std::vector<LayerRow> rows;
};

// Builds `name` (aliases accepted) and traces a 1 x 3 x crop x crop input through it.
NetSummary summarize_net(const std::string& name, int crop, int num_classes);

// Forward GFLOPs of traced layers (trace_layers): 2 per multiply-add.
double forward_gflops(const std::vector<LayerRow>& rows);

// The per-layer table and totals, as printed by tools/summary.
std::string summary_table(const NetSummary& s);
// {"net", "crop", "num_classes", "params", "gflops", "layers": [{"name", "type", "output",
// "params", "flops"}, ...]}
nlohmann::json summary_json(const NetSummary& s);

}  // namespace dybat
