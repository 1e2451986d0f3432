// A sweep's run folders: state, settings check, checkpoint steps, metrics rows, attempt files
// (see sweep_runs.h).
#include "train/sweep_runs.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "train/files.h"

namespace dybat {

namespace {

std::string in(const std::string& dir, const char* name) { return (std::filesystem::path(dir) / name).string(); }

nlohmann::json read_json(const std::string& path) {
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  DYBAT_CHECK(!j.is_discarded() && j.is_object(), "'", path, "' is not valid JSON");
  return j;
}

// Settings that do not change what a run computes, and the one a resumed run may raise.
bool ignored_setting(const std::string& key) {
  for (const char* k : {"out", "resume", "device", "flush_seconds", "cuda_graph", "epochs"})
    if (key == k) return true;
  return false;
}

}  // namespace

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::Pending:
      return "pending";
    case RunState::Incomplete:
      return "incomplete";
    case RunState::Done:
      return "done";
    case RunState::Failed:
      return "failed";
  }
  return "?";
}

std::string RunStatus::describe(const std::string& dir) const {
  const std::string steps =
      total_steps > 0 ? ": step " + std::to_string(step) + " of " + std::to_string(total_steps) : std::string();
  switch (state) {
    case RunState::Done:
      return "done";
    case RunState::Pending:
      return "pending";
    case RunState::Incomplete:
      return "incomplete" + steps;
    case RunState::Failed:
      return "failed: " +
             (last.signal ? "killed by signal " + std::to_string(last.signal)
                          : "exit " + std::to_string(last.exit_code)) +
             ", see " + in(dir, "train.log");
  }
  return "?";
}

nlohmann::json checkpoint_metadata(const std::string& path) {
  const nlohmann::json none = nlohmann::json::object();
  std::ifstream f(path, std::ios::binary);
  if (!f) return none;
  unsigned char len_bytes[8];
  if (!f.read(reinterpret_cast<char*>(len_bytes), 8)) return none;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];  // little-endian header length
  if (n == 0 || n > (64u << 20)) return none;
  std::string header(static_cast<size_t>(n), '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(n))) return none;
  auto j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.contains("__metadata__") || !j["__metadata__"].is_object()) return none;
  return j["__metadata__"];
}

int64_t checkpoint_step(const std::string& path) {
  const nlohmann::json m = checkpoint_metadata(path);
  if (!m.contains("step") || !m["step"].is_string()) return -1;
  long long v = -1;
  char tail = 0;
  return std::sscanf(m["step"].get<std::string>().c_str(), "%lld%c", &v, &tail) == 1 && v >= 0 ? v : -1;
}

std::vector<nlohmann::json> read_metrics(const std::string& dir) {
  std::vector<nlohmann::json> rows;
  const std::string path = in(dir, "metrics.jsonl");
  if (!file_exists(path)) return rows;
  const std::string text = read_file(path);
  std::istringstream lines(text);
  size_t at = 0;
  for (std::string line; std::getline(lines, line);) {
    at += line.size() + 1;
    if (at > text.size()) break;  // no newline: a row cut short by a crash
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("step") && j.contains("test_top1")) rows.push_back(j);
  }
  return rows;
}

RunStatus inspect_run(const std::string& dir, int64_t epochs) {
  RunStatus s;
  if (file_exists(in(dir, "sweep_attempt.json"))) {
    auto a = nlohmann::json::parse(read_file(in(dir, "sweep_attempt.json")), nullptr, false);
    if (!a.is_discarded() && a.is_object()) {
      s.attempted = true;
      s.last.exit_code = a.value("exit_code", -1);
      s.last.signal = a.value("signal", 0);
      s.last.wall_s = a.value("wall_s", 0.0);
      s.last.device = a.value("device", "");
    }
  }
  if (file_exists(in(dir, "config.json"))) {
    nlohmann::json c = read_json(in(dir, "config.json"));
    s.started = true;
    s.device = c.value("device", "");
    s.total_steps = c.contains("resolved") ? c["resolved"].value("total_steps", int64_t{0}) : 0;
    s.step = std::max<int64_t>(0, checkpoint_step(in(dir, "state.safetensors")));
    const bool done = c.value("epochs", int64_t{0}) == epochs && s.total_steps > 0 && s.step == s.total_steps &&
                      checkpoint_step(in(dir, "model.safetensors")) == s.total_steps;
    if (done) {
      s.state = RunState::Done;
      return s;
    }
    s.state = RunState::Incomplete;
  }
  // The last attempt ended with an error, not an interrupt (130) or a success.
  const bool failed = s.attempted && (s.last.signal != 0 ? s.last.signal != SIGTERM && s.last.signal != SIGINT
                                                         : s.last.exit_code != 0 && s.last.exit_code != 130);
  if (failed) s.state = RunState::Failed;
  return s;
}

void check_run_matches(const std::string& dir, const TrainConfig& want) {
  const std::string path = in(dir, "config.json");
  if (!file_exists(path)) return;
  nlohmann::json have = config_to_json(config_from_json(read_json(path))), w = config_to_json(want);
  for (const auto& [key, value] : w.items()) {
    if (ignored_setting(key) || have[key] == value) continue;
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    DYBAT_FAIL("'", dir, "' holds a run with --", flag, " ", have[key].dump(), ", but this sweep gives it ",
               value.dump(), "; run the sweep with that run's flags, or choose another --out");
  }
  DYBAT_CHECK(have["epochs"].get<int64_t>() <= want.epochs, "'", dir, "' holds a run of ", have["epochs"].dump(),
              " epochs, more than this sweep's ", want.epochs, "; give --epochs ", have["epochs"].dump(),
              " or choose another --out");
}

void write_attempt(const std::string& dir, const RunAttempt& a) {
  nlohmann::json j = {{"exit_code", a.exit_code}, {"signal", a.signal}, {"wall_s", a.wall_s}, {"device", a.device}};
  write_text_atomic(in(dir, "sweep_attempt.json"), j.dump(2) + "\n");
}

}  // namespace dybat
