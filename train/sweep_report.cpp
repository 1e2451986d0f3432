// A sweep's report data, from the grid and the run folders (see sweep_report.h).
#include "train/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>

#include "core/error.h"
#include "nets/summary.h"
#include "train/files.h"
#include "train/sweep_runs.h"
#include "train/sweep_stats.h"

namespace dybat {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json ms_json(const MeanStd& m) { return {{"mean", num(m.mean)}, {"std", num(m.std)}, {"n", m.n}}; }

double get(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : kNaN;
}

struct Run {
  const SweepCell* cell = nullptr;
  std::string dir;
  RunStatus status;
  nlohmann::json config;                     // config.json (null when not started)
  std::vector<double> epoch, top1, elapsed;  // the metrics rows (done runs only)
  nlohmann::json row;                        // the last row
  double trained_epochs = kNaN, scored_epochs = kNaN;  // the work, in epochs of the training split
  double epochs_to_target = kNaN, equal_time_top1 = kNaN, equal_time_epoch = kNaN;
  bool done() const { return status.state == RunState::Done && !epoch.empty(); }
};

// A done run's work: the samples its steps trained (forward and backward) and those it only
// scored (no-grad forwards), from the checkpoint's select_work; a run without it (dybat) trained
// one batch per step. In epochs of the training split.
void read_work(Run& r) {
  const nlohmann::json& res = r.config.is_object() && r.config.contains("resolved") ? r.config["resolved"]
                                                                                     : nlohmann::json::object();
  const double samples = get(res, "train_samples");
  if (!(samples > 0)) return;
  double trained = static_cast<double>(r.status.step) * r.cell->config.batch_size, scored = 0;
  const nlohmann::json m = checkpoint_metadata((std::filesystem::path(r.dir) / "state.safetensors").string());
  if (m.contains("select_work") && m["select_work"].is_string()) {
    const nlohmann::json w = nlohmann::json::parse(m["select_work"].get<std::string>(), nullptr, false);
    if (w.is_object()) {
      trained = get(w, "trained_samples");
      scored = get(w, "scored_samples");
    }
  }
  r.trained_epochs = trained / samples;
  r.scored_epochs = scored / samples;
}

Run read_run(const SweepGrid& g, const SweepCell& cell) {
  Run r;
  r.cell = &cell;
  r.dir = cell_dir(g.out, cell);
  r.status = inspect_run(r.dir, cell.config.epochs);
  const std::string config = (std::filesystem::path(r.dir) / "config.json").string();
  if (r.status.started) r.config = nlohmann::json::parse(read_file(config), nullptr, false);
  if (r.status.state != RunState::Done) return r;
  for (const nlohmann::json& row : read_metrics(r.dir)) {
    r.epoch.push_back(get(row, "epoch"));
    r.top1.push_back(get(row, "test_top1"));
    r.elapsed.push_back(get(row, "elapsed_s"));
    r.row = row;
  }
  read_work(r);
  return r;
}

struct Setting {
  std::string net, select;
  double delta = 1;
  std::vector<Run*> runs;
  std::vector<double> over_done(const std::function<double(const Run&)>& f) const {
    std::vector<double> v;
    for (const Run* r : runs)
      if (r->done()) v.push_back(f(*r));
    return v;
  }
  MeanStd stat(const std::function<double(const Run&)>& f) const { return mean_std(over_done(f)); }
  bool baseline() const { return select == "dybat" && delta == 1.0; }
};

double mean_img_per_s(const Run& r) {
  std::vector<double> v;
  for (const nlohmann::json& row : read_metrics(r.dir))
    if (get(row, "img_per_s") > 0) v.push_back(get(row, "img_per_s"));
  return mean_std(v).mean;
}

// Test top-1 by epoch, mean and std over the done seeds at each evaluation epoch.
nlohmann::json curve(const Setting& s) {
  std::map<double, std::vector<double>> at;
  for (const Run* r : s.runs)
    if (r->done())
      for (size_t i = 0; i < r->epoch.size(); ++i) at[r->epoch[i]].push_back(r->top1[i]);
  nlohmann::json c = {{"epoch", nlohmann::json::array()},
                      {"mean", nlohmann::json::array()},
                      {"std", nlohmann::json::array()},
                      {"n", nlohmann::json::array()}};
  for (const auto& [e, v] : at) {
    MeanStd m = mean_std(v);
    c["epoch"].push_back(e);
    c["mean"].push_back(num(m.mean));
    c["std"].push_back(num(m.std));
    c["n"].push_back(m.n);
  }
  return c;
}

nlohmann::json run_json(const Run& r) {
  nlohmann::json j = {{"name", r.cell->name},
                      {"net", r.cell->net},
                      {"select", r.cell->select},
                      {"delta", r.cell->delta},
                      {"seed", r.cell->seed},
                      {"folder", r.dir},
                      {"status", run_state_name(r.status.state)},
                      {"status_text", r.status.describe(r.dir)},
                      {"step", r.status.step},
                      {"total_steps", r.status.total_steps}};
  if (r.status.attempted)
    j["last_attempt"] = {
        {"exit_code", r.status.last.exit_code}, {"signal", r.status.last.signal}, {"wall_s", r.status.last.wall_s}};
  if (r.config.is_object() && r.config.contains("resolved")) j["device"] = r.config["resolved"].value("device", "");
  if (!r.done()) return j;
  j["final"] = {{"test_top1", num(get(r.row, "test_top1"))},   {"test_top5", num(get(r.row, "test_top5"))},
                {"test_auroc", num(get(r.row, "test_auroc"))}, {"test_loss", num(get(r.row, "test_loss"))},
                {"train_loss", num(get(r.row, "train_loss"))}, {"epoch", num(get(r.row, "epoch"))}};
  double best = kNaN;
  for (double v : r.top1) best = std::isfinite(best) ? std::max(best, v) : v;
  j["best_top1"] = num(best);
  j["wall_s"] = num(r.elapsed.back());
  j["img_per_s"] = num(mean_img_per_s(r));
  j["epochs_to_target"] = num(r.epochs_to_target);
  j["equal_time_top1"] = num(r.equal_time_top1);
  j["equal_time_epoch"] = num(r.equal_time_epoch);
  j["trained_epochs"] = num(r.trained_epochs);
  j["scored_epochs"] = num(r.scored_epochs);
  return j;
}

// Parameters and forward GFLOPs of a net at the runs' crop and class count, as tools/summary.
void add_net_size(nlohmann::json& net, const std::vector<Run>& runs, const std::string& name) {
  int crop = 0, classes = 0;
  for (const Run& r : runs) {
    if (r.cell->net != name) continue;
    crop = r.cell->config.crop;
    if (r.config.is_object() && r.config.contains("resolved")) classes = r.config["resolved"].value("classes", 0);
    if (classes == 0) classes = r.cell->config.classes;
    if (classes > 0) break;
  }
  net["crop"] = crop;
  net["classes"] = classes > 0 ? nlohmann::json(classes) : nlohmann::json(nullptr);
  net["params"] = nullptr;
  net["gflops"] = nullptr;
  if (classes <= 0) return;  // no run has started: the dataset's class count is not known yet
  NetSummary s = summarize_net(name, crop, classes);
  net["params"] = s.params;
  net["gflops"] = s.gflops;
}

}  // namespace

nlohmann::json build_report(const SweepGrid& g) {
  std::vector<Run> runs;
  runs.reserve(g.cells.size());
  for (const SweepCell& c : g.cells) runs.push_back(read_run(g, c));
  std::vector<Setting> settings;
  std::vector<std::string> nets;
  for (Run& r : runs) {
    Setting* s = nullptr;
    for (Setting& x : settings)
      if (x.net == r.cell->net && x.select == r.cell->select && x.delta == r.cell->delta) s = &x;
    if (!s) {
      settings.push_back({r.cell->net, r.cell->select, r.cell->delta, {}});
      s = &settings.back();
    }
    s->runs.push_back(&r);
    if (std::find(nets.begin(), nets.end(), r.cell->net) == nets.end()) nets.push_back(r.cell->net);
  }
  auto final_top1 = [](const Run& r) { return get(r.row, "test_top1"); };
  auto epochs_of = [](const Run& r) { return r.epochs_to_target; };
  auto wall = [](const Run& r) { return r.elapsed.back(); };

  nlohmann::json report;
  report["std"] = "sample standard deviation over seeds (n - 1)";
  report["nets"] = nlohmann::json::array();
  report["settings"] = nlohmann::json::array();
  for (const std::string& name : nets) {
    nlohmann::json net = {{"net", name}};
    add_net_size(net, runs, name);
    const Setting* base = nullptr;
    for (const Setting& s : settings)
      if (s.net == name && s.baseline()) base = &s;
    double target = kNaN;
    if (base) target = 0.95 * base->stat(final_top1).mean;
    double fastest = kNaN;
    for (const Setting& s : settings) {
      if (s.net != name) continue;
      const double w = s.stat(wall).mean;
      if (std::isfinite(w) && !(w >= fastest)) fastest = w;
    }
    for (const Setting& s : settings)
      if (s.net == name)
        for (Run* r : s.runs)
          if (r->done()) {
            r->epochs_to_target = std::isfinite(target) ? epochs_to_reach(r->epoch, r->top1, target) : kNaN;
            r->equal_time_top1 = std::isfinite(fastest) ? value_at(r->elapsed, r->top1, fastest) : kNaN;
            r->equal_time_epoch = std::isfinite(fastest) ? value_at(r->elapsed, r->epoch, fastest) : kNaN;
          }
    auto all_reached = [&](const Setting& s) {
      const std::vector<double> e = s.over_done(epochs_of);
      return !e.empty() && mean_std(e).n == static_cast<int>(e.size());
    };
    const double base_epochs = base && all_reached(*base) ? base->stat(epochs_of).mean : kNaN;
    const double base_equal = base ? base->stat([](const Run& r) { return r.equal_time_top1; }).mean : kNaN;
    net["has_baseline"] = base != nullptr;
    net["baseline_final_top1"] = num(base ? base->stat(final_top1).mean : kNaN);
    net["target_top1"] = num(target);
    net["baseline_epochs_to_target"] = num(base_epochs);
    net["equal_time_s"] = num(fastest);
    report["nets"].push_back(net);

    for (const Setting& s : settings) {
      if (s.net != name) continue;
      nlohmann::json j = {{"net", s.net}, {"select", s.select}, {"delta", s.delta}, {"baseline", s.baseline()}};
      int done = 0;
      nlohmann::json states = nlohmann::json::array();
      for (const Run* r : s.runs) {
        done += r->done();
        states.push_back({{"seed", r->cell->seed},
                          {"status", run_state_name(r->status.state)},
                          {"status_text", r->status.describe(r->dir)}});
      }
      j["seeds"] = s.runs.size();
      j["done"] = done;
      j["runs"] = states;
      j["steps"] = s.runs.front()->status.total_steps;
      j["final_top1"] = ms_json(s.stat(final_top1));
      j["best_top1"] = ms_json(s.stat([](const Run& r) {
        double b = r.top1.front();
        for (double v : r.top1) b = std::max(b, v);
        return b;
      }));
      j["top5"] = ms_json(s.stat([](const Run& r) { return get(r.row, "test_top5"); }));
      j["auroc"] = ms_json(s.stat([](const Run& r) { return get(r.row, "test_auroc"); }));
      j["wall_s"] = ms_json(s.stat(wall));
      j["img_per_s"] = ms_json(s.stat(mean_img_per_s));
      const MeanStd e = s.stat(epochs_of);
      j["epochs_to_target"] = ms_json(e);
      j["reached"] = e.n;
      j["saving_pct"] = num(all_reached(s) && base_epochs > 0 ? 100.0 * (1.0 - e.mean / base_epochs) : kNaN);
      const MeanStd eq = s.stat([](const Run& r) { return r.equal_time_top1; });
      j["equal_time_top1"] = ms_json(eq);
      j["equal_time_vs_baseline"] = num(eq.mean - base_equal);
      j["equal_time_epoch"] = ms_json(s.stat([](const Run& r) { return r.equal_time_epoch; }));
      j["trained_epochs"] = ms_json(s.stat([](const Run& r) { return r.trained_epochs; }));
      j["scored_epochs"] = ms_json(s.stat([](const Run& r) { return r.scored_epochs; }));
      j["curve"] = curve(s);
      report["settings"].push_back(j);
    }
  }
  report["runs"] = nlohmann::json::array();
  for (const Run& r : runs) report["runs"].push_back(run_json(r));
  return report;
}

}  // namespace dybat
