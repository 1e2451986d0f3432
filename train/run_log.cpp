// Run folder text files (see run_log.h).
#include "train/run_log.h"

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "train/files.h"

namespace dybat {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Splits text into lines (a missing final newline still gives the last line).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool ends_with_newline(const std::string& s) { return !s.empty() && s.back() == '\n'; }

// The step of a metrics.csv line or a metrics.jsonl line; -1 when it cannot be read.
int64_t csv_step(const std::string& line) {
  long long s = -1;
  return std::sscanf(line.c_str(), "%lld,", &s) == 1 ? s : -1;
}
int64_t json_step(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  return (!j.is_discarded() && j.contains("step") && j["step"].is_number_integer()) ? j["step"].get<int64_t>() : -1;
}

}  // namespace

std::string metrics_csv_header() {
  return "step,epoch,train_loss,train_top1,train_top5,train_auroc,test_loss,test_top1,test_top5,test_auroc,elapsed_s,"
         "img_per_s\n";
}

std::string format_metrics_csv(const MetricsRow& r) {
  std::string s = std::to_string(r.step);
  auto put = [&s](const char* f, double v) {
    s += ',';
    s += fmt(f, v);
  };
  put("%.9g", r.epoch);
  for (const SplitMetrics* m : {&r.train, &r.test})
    for (double v : {m->loss, m->top1, m->top5, m->auroc}) put("%.9g", v);
  put("%.3f", r.elapsed_s);
  put("%.1f", r.img_per_s);
  return s + "\n";
}

nlohmann::json metrics_to_json(const MetricsRow& r) {
  nlohmann::json j;
  j["step"] = r.step;
  j["epoch"] = r.epoch;
  for (auto [name, m] : {std::pair<const char*, const SplitMetrics*>{"train", &r.train}, {"test", &r.test}}) {
    std::string p = name;
    j[p + "_loss"] = m->loss;
    j[p + "_top1"] = m->top1;
    j[p + "_top5"] = m->top5;
    j[p + "_auroc"] = m->auroc;
  }
  j["elapsed_s"] = r.elapsed_s;
  j["img_per_s"] = r.img_per_s;
  return j;
}

std::string format_trace(const std::vector<TraceRow>& rows) {
  std::string s;
  char buf[96];
  for (const TraceRow& r : rows) {
    std::snprintf(buf, sizeof buf, "%" PRId64 ",%" PRId64 ",%.9g\n", r.step, r.batch_id, static_cast<double>(r.loss));
    s += buf;
  }
  return s;
}

std::vector<TraceRow> parse_trace(const std::string& text) {
  std::vector<std::string> lines = lines_of(text);
  std::vector<TraceRow> rows;
  for (size_t i = 1; i < lines.size(); ++i) {
    long long step, id;
    float loss;
    char tail;
    bool ok = std::sscanf(lines[i].c_str(), "%lld,%lld,%g%c", &step, &id, &loss, &tail) == 3;
    bool last = i + 1 == lines.size();
    if (last && (!ok || !ends_with_newline(text))) break;  // a line cut short by a crash
    DYBAT_CHECK(ok, "trace.csv: line ", i + 1, " is malformed: '", lines[i], "'");
    rows.push_back({step, id, loss});
  }
  return rows;
}

RunLog::RunLog(std::string dir) : dir_(std::move(dir)) {}

std::string RunLog::path(const std::string& name) const { return (std::filesystem::path(dir_) / name).string(); }

void RunLog::start(const nlohmann::json& config) {
  make_dirs(dir_);
  DYBAT_CHECK(!file_exists(path("config.json")) && !file_exists(path("state.safetensors")), "the folder '", dir_,
              "' already holds a run; use --resume ", dir_, " to continue it, or another --out");
  write_config(config);
  write_file_atomic(path("metrics.csv"), metrics_csv_header());
  write_file_atomic(path("metrics.jsonl"), "");
  write_file_atomic(path("trace.csv"), "step,batch_id,loss\n");
}

void RunLog::write_config(const nlohmann::json& config) { write_file_atomic(path("config.json"), config.dump(2) + "\n"); }

nlohmann::json RunLog::read_config() const {
  std::string p = path("config.json");
  DYBAT_CHECK(file_exists(p), "'", dir_, "' is not a run folder: no config.json");
  auto j = nlohmann::json::parse(read_file(p), nullptr, false);
  DYBAT_CHECK(!j.is_discarded() && j.is_object(), "'", p, "' is not valid JSON");
  return j;
}

void RunLog::truncate_to(int64_t step) {
  // trace.csv: exactly the first `step` rows must be there (they were flushed before the checkpoint).
  std::vector<TraceRow> rows = file_exists(path("trace.csv")) ? parse_trace(read_file(path("trace.csv")))
                                                              : std::vector<TraceRow>{};
  DYBAT_CHECK(static_cast<int64_t>(rows.size()) >= step, "trace.csv in '", dir_, "' has ", rows.size(),
              " rows but the checkpoint is at step ", step);
  rows.resize(static_cast<size_t>(step));
  for (int64_t i = 0; i < step; ++i)
    DYBAT_CHECK(rows[i].step == i + 1, "trace.csv in '", dir_, "': row ", i + 1, " has step ", rows[i].step);
  write_file_atomic(path("trace.csv"), "step,batch_id,loss\n" + format_trace(rows));

  std::string csv = metrics_csv_header(), jsonl;
  if (file_exists(path("metrics.csv"))) {
    std::string text = read_file(path("metrics.csv"));
    std::vector<std::string> lines = lines_of(text);
    for (size_t i = 1; i < lines.size(); ++i) {
      bool complete = i + 1 < lines.size() || ends_with_newline(text);
      int64_t s = csv_step(lines[i]);
      if (complete && s >= 0 && s <= step) csv += lines[i] + "\n";
    }
  }
  if (file_exists(path("metrics.jsonl"))) {
    std::string text = read_file(path("metrics.jsonl"));
    std::vector<std::string> lines = lines_of(text);
    for (size_t i = 0; i < lines.size(); ++i) {
      bool complete = i + 1 < lines.size() || ends_with_newline(text);
      int64_t s = json_step(lines[i]);
      if (complete && s >= 0 && s <= step) jsonl += lines[i] + "\n";
    }
  }
  write_file_atomic(path("metrics.csv"), csv);
  write_file_atomic(path("metrics.jsonl"), jsonl);
}

void RunLog::append_trace(const std::vector<TraceRow>& rows) {
  if (!rows.empty()) append_file(path("trace.csv"), format_trace(rows));
}

void RunLog::append_metrics(const MetricsRow& row) {
  append_file(path("metrics.csv"), format_metrics_csv(row));
  append_file(path("metrics.jsonl"), metrics_to_json(row).dump() + "\n");
}

}  // namespace dybat
