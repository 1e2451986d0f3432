// A run folder's text files: config.json, metrics.csv and metrics.jsonl (one row per evaluation),
// trace.csv (one row per step), and cutting them back to a checkpoint's step on resume.
//
// metrics columns: step,epoch,train_loss,train_top1,train_top5,train_auroc,test_loss,test_top1,
// test_top5,test_auroc,elapsed_s,img_per_s (epoch = step / b; top-k in percent, AUROC in [0, 1]).
// trace columns: step,batch_id,loss, the loss being the float32 written to score[batch_id],
// printed with 9 significant digits (enough to recover the float exactly).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/metrics.h"
#include "train/selection.h"

namespace dybat {

struct MetricsRow {
  int64_t step = 0;
  double epoch = 0;
  SplitMetrics train, test;
  double elapsed_s = 0;
  double img_per_s = 0;
};

std::string metrics_csv_header();
std::string format_metrics_csv(const MetricsRow& r);
nlohmann::json metrics_to_json(const MetricsRow& r);
std::string format_trace(const std::vector<TraceRow>& rows);
// Parses trace.csv text (header first); throws on a malformed line unless it is the last one
// (a write cut short), which is dropped.
std::vector<TraceRow> parse_trace(const std::string& text);

class RunLog {
 public:
  explicit RunLog(std::string dir);
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const;  // dir/name

  // A fresh run: creates the folder (it must not hold a run already), writes config.json and
  // the headers of the metrics and trace files.
  void start(const nlohmann::json& config);
  // Resume: keeps the first `step` trace rows and the metrics rows up to `step` (atomically).
  void truncate_to(int64_t step);
  void append_trace(const std::vector<TraceRow>& rows);
  void append_metrics(const MetricsRow& row);
  nlohmann::json read_config() const;
  void write_config(const nlohmann::json& config);

 private:
  std::string dir_;
};

}  // namespace dybat
