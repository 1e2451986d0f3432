// A sweep's report files: report.md from the report data, the machine and version lines, the
// figures drawn through tools/plot-sweep (see sweep_report.h).
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "train/files.h"
#include "train/sweep_report.h"

namespace dybat {

namespace {

template <class... A>
std::string fmt(const char* f, A... a) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command; its output (stdout and stderr) and exit code.
int shell(const std::string& cmd, std::string* output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string first_line(std::string s) {
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

bool has(const nlohmann::json& j) { return !j.is_null(); }

// "72.31 ± 0.52" (n >= 2), "72.31" (one seed), "—" (none).
std::string ms(const nlohmann::json& m, int digits) {
  if (!has(m) || !has(m["mean"])) return "—";
  std::string s = fmt("%.*f", digits, m["mean"].get<double>());
  if (has(m["std"])) s += fmt(" ± %.*f", digits, m["std"].get<double>());
  return s;
}

std::string duration(double s) {
  if (!std::isfinite(s)) return "—";
  if (s < 60) return fmt("%.1f s", s);
  long long t = std::llround(s);
  if (t < 3600) return fmt("%lldm%02llds", t / 60, t % 60);
  return fmt("%lldh%02lldm", t / 3600, (t % 3600) / 60);
}

std::string number(const nlohmann::json& v, const char* f) { return has(v) ? fmt(f, v.get<double>()) : "—"; }

std::string delta_text(const nlohmann::json& s) { return fmt("%g", s["delta"].get<double>()); }

// "2/2 done", or "1/2 done; s1 failed: exit 2, see DIR/train.log; s2 incomplete: step 4 of 12".
std::string runs_text(const nlohmann::json& s) {
  std::string t = fmt("%d/%d done", s["done"].get<int>(), s["seeds"].get<int>());
  for (const auto& r : s["runs"])
    if (r["status"] != "done")
      t += "; s" + std::to_string(r["seed"].get<uint64_t>()) + " " + r["status_text"].get<std::string>();
  return t;
}

const nlohmann::json& net_of(const nlohmann::json& report, const std::string& name) {
  for (const auto& n : report["nets"])
    if (n["net"] == name) return n;
  static const nlohmann::json none = nlohmann::json::object();
  return none;
}

}  // namespace

nlohmann::json machine_info() {
  nlohmann::json m;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string cpu = "unknown";
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  m["cpu"] = cpu;
  m["threads"] = std::thread::hardware_concurrency();
  const char* omp = std::getenv("OMP_NUM_THREADS");
  m["omp_num_threads"] = omp ? omp : "";
  m["gpus"] = nlohmann::json::array();
  std::string out;
  if (shell("command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader", &out) == 0) {
    for (size_t a = 0; a < out.size();) {
      size_t b = out.find('\n', a);
      std::string name = first_line(out.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (!name.empty()) m["gpus"].push_back(name);
      if (b == std::string::npos) break;
      a = b + 1;
    }
  }
  return m;
}

nlohmann::json version_info(const std::string& source_dir) {
  nlohmann::json v = {{"dybat", kDybatVersion}, {"git", nullptr}};
  std::string out;
  if (!source_dir.empty() && shell("git -C " + quote(source_dir) + " describe --always --dirty", &out) == 0)
    v["git"] = first_line(out);
  return v;
}

std::string render_markdown(const nlohmann::json& r) {
  std::string md = "# Sweep report\n\n";
  md += "- Command: `" + r.value("command", "") + "`\n";
  const nlohmann::json& v = r["version"];
  md += "- Written " + r.value("created", "") + " by dybat " + v.value("dybat", "") +
        (has(v["git"]) ? " (git " + v["git"].get<std::string>() + ")" : " (git describe unavailable)") + "\n";
  const nlohmann::json& m = r["machine"];
  std::string gpus;
  for (const auto& g : m["gpus"]) gpus += (gpus.empty() ? "" : ", ") + g.get<std::string>();
  md += "- Machine: " + m.value("cpu", "") + ", " + std::to_string(m.value("threads", 0)) + " hardware threads" +
        (m.value("omp_num_threads", "").empty() ? "" : " (OMP_NUM_THREADS=" + m.value("omp_num_threads", "") + ")") +
        "; GPU: " + (gpus.empty() ? "none found" : gpus) + "\n";
  int counts[4] = {0, 0, 0, 0};
  const char* names[4] = {"done", "failed", "incomplete", "pending"};
  for (const auto& run : r["runs"])
    for (int i = 0; i < 4; ++i) counts[i] += run["status"] == names[i];
  md += fmt("- Runs: %d of %zu done, %d failed, %d incomplete, %d pending\n", counts[0], r["runs"].size(), counts[1],
            counts[2], counts[3]);
  md +=
      "- Numbers are mean ± std over the seeds whose runs are done (n); std is the sample standard deviation "
      "(n - 1), none for one seed. Top-1 and top-5 in percent, AUROC in [0, 1]; test split.\n\n";

  md +=
      "## Results by equal steps\n\nEvery setting of a net trains the same number of steps (epochs × batches per "
      "epoch; a step is one optimizer update), as in the paper. Final: the last evaluation; best: the highest test "
      "top-1 of any evaluation. Trained: samples through a training forward and backward; scored: samples through a "
      "no-grad scoring forward only (the selection's extra compute); both in epochs of the training split.\n\n";
  md +=
      "| net | params (M) | GFLOPs | method | delta | steps | trained (ep) | scored (ep) | final top-1 | best top-1 | "
      "top-5 | AUROC | n | runs |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : r["settings"]) {
    const nlohmann::json& n = net_of(r, s["net"]);
    md += "| " + s["net"].get<std::string>() + " | " +
          (has(n.value("params", nlohmann::json())) ? fmt("%.2f", n["params"].get<double>() / 1e6) : "—") + " | " +
          number(n.value("gflops", nlohmann::json()), "%.3f") + " | " + s["select"].get<std::string>() + " | " +
          delta_text(s) + " | " + std::to_string(s["steps"].get<int64_t>()) + " | " + ms(s["trained_epochs"], 2) +
          " | " + ms(s["scored_epochs"], 2) + " | " + ms(s["final_top1"], 2) + " | " +
          ms(s["best_top1"], 2) + " | " + ms(s["top5"], 2) + " | " + ms(s["auroc"], 4) + " | " +
          std::to_string(s["final_top1"]["n"].get<int>()) + " | " + runs_text(s) + " |\n";
  }

  md +=
      "\n## Epochs to 95% of the baseline\n\nTarget: 95% of the baseline's mean final test top-1 (baseline: delta "
      "1, method dybat, same net). Epochs: the first evaluation at or above the target, over the seeds that "
      "reach it (reached). Saving: 1 - epochs / "
      "the baseline's epochs, in percent (when every seed of both reaches the target).\n\n";
  md +=
      "| net | target top-1 | method | delta | epochs to target | reached | saving (%) "
      "|\n|---|---|---|---|---|---|---|\n";
  for (const auto& s : r["settings"]) {
    const nlohmann::json& n = net_of(r, s["net"]);
    std::string target = n.value("has_baseline", false) ? number(n["target_top1"], "%.2f") : "no baseline";
    md += "| " + s["net"].get<std::string>() + " | " + target + " | " + s["select"].get<std::string>() + " | " +
          delta_text(s) + " | " + ms(s["epochs_to_target"], 2) + " | " +
          fmt("%d/%d", s["reached"].get<int>(), s["done"].get<int>()) + " | " + number(s["saving_pct"], "%.1f") +
          " |\n";
  }

  md +=
      "\n## Wall time and throughput\n\nWall time: the run's elapsed time at its last evaluation (training and "
      "evaluations, summed over resumes). img/s: training images per second, the mean over evaluation "
      "intervals.\n\n| net | method | delta | wall time | wall time (s) | img/s |\n|---|---|---|---|---|---|\n";
  for (const auto& s : r["settings"])
    md += "| " + s["net"].get<std::string>() + " | " + s["select"].get<std::string>() + " | " + delta_text(s) + " | " +
          duration(has(s["wall_s"]["mean"]) ? s["wall_s"]["mean"].get<double>() : NAN) + " | " + ms(s["wall_s"], 1) +
          " | " + ms(s["img_per_s"], 0) + " |\n";

  md +=
      "\n## Results by equal wall time\n\nT: the mean wall time of the net's fastest setting. Each run's test "
      "top-1 at T is interpolated linearly between its evaluations (elapsed_s); — where a run had no "
      "evaluation by T (its first one includes the start-up); epochs at T: how far it had trained by then (steps / "
      "batches per epoch); vs baseline in points.\n\n";
  md += "| net | T | method | delta | epochs at T | top-1 at T | vs baseline |\n|---|---|---|---|---|---|---|\n";
  for (const auto& s : r["settings"]) {
    const nlohmann::json& n = net_of(r, s["net"]);
    md += "| " + s["net"].get<std::string>() + " | " +
          duration(has(n["equal_time_s"]) ? n["equal_time_s"].get<double>() : NAN) + " | " +
          s["select"].get<std::string>() + " | " + delta_text(s) + " | " + ms(s["equal_time_epoch"], 2) + " | " +
          ms(s["equal_time_top1"], 2) + " | " +
          number(s["equal_time_vs_baseline"], "%+.2f") + " |\n";
  }

  md += "\n## Figures\n\nTest top-1 by epoch: the mean over seeds, and a band of ± one std.\n\n";
  if (r.contains("figures"))
    for (const auto& [net, file] : r["figures"].items()) md += "![" + net + "](" + file.get<std::string>() + ")\n\n";
  if (!r.value("figures_note", "").empty()) md += r.value("figures_note", "") + "\n\n";

  md += "## Runs\n\n| run | status | device | final top-1 | best top-1 | wall time | epochs to target |\n";
  md += "|---|---|---|---|---|---|---|\n";
  for (const auto& run : r["runs"]) {
    auto field = [&](const char* k) { return run.contains(k) ? run[k] : nlohmann::json(); };
    md += "| " + run["name"].get<std::string>() + " | " + run["status_text"].get<std::string>() + " | " +
          run.value("device", "") + " | " + (run.contains("final") ? number(run["final"]["test_top1"], "%.2f") : "—") +
          " | " + number(field("best_top1"), "%.2f") + " | " +
          duration(has(field("wall_s")) ? field("wall_s").get<double>() : NAN) + " | " +
          number(field("epochs_to_target"), "%g") + " |\n";
  }
  return md;
}

std::string write_report(const SweepGrid& g, const ReportContext& ctx) {
  nlohmann::json rep = build_report(g);
  rep["command"] = ctx.command;
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::localtime(&now));
  rep["created"] = stamp;
  rep["version"] = version_info(ctx.source_dir);
  rep["machine"] = machine_info();
  const std::filesystem::path out(g.out);
  const std::string json_path = (out / "report.json").string();
  write_text_atomic(json_path, rep.dump(1) + "\n");

  std::string note;
  rep["figures"] = nlohmann::json::object();
  if (ctx.plot_script.empty() || !file_exists(ctx.plot_script)) {
    note = "Figures not drawn: tools/plot-sweep was not found next to the program.";
  } else {
    std::string output;
    int code = shell(quote(ctx.python) + " " + quote(ctx.plot_script) + " " + quote(json_path), &output);
    if (code == 3)
      note =
          "Figures not drawn: python3-matplotlib is missing (sudo apt-get install -y python3-matplotlib); the "
          "tables above are complete.";
    else if (code != 0)
      note = "Figures not drawn: " + ctx.python + " " + ctx.plot_script + " failed (exit " + std::to_string(code) +
             "): " + first_line(output);
    // The script prints "wrote figure-<net>.png" for each figure it drew.
    for (const auto& n : rep["nets"]) {
      const std::string file = "figure-" + n["net"].get<std::string>() + ".png";
      if (code == 0 && output.find("wrote " + file + "\n") != std::string::npos)
        rep["figures"][n["net"].get<std::string>()] = file;
    }
  }
  rep["figures_note"] = note;
  write_text_atomic(json_path, rep.dump(1) + "\n");
  write_text_atomic((out / "report.md").string(), render_markdown(rep));
  return note;
}

}  // namespace dybat
