// sweep: runs a grid of training runs (nets x selection methods x deltas x seeds) as child
// processes of the train program, one run folder per cell, and writes the report (report.md,
// report.json, one figure per net). Run the same command again to continue a stopped sweep:
// finished runs are kept, interrupted ones resume.
//
//   ./tools/sweep --nets resnet18,mobilenetv3_small_100 --delta 1,0.5 --seeds 0,1,2 --out sweeps/a
//       [--select dybat] [--preset quick|paper] [--devices cuda:0,cuda:1] [any train flag]
//   mpirun -np 4 ./tools/sweep ...      each rank runs its share of the grid (cell i: rank i % 4)
//   ./tools/sweep --report-only --out sweeps/a
//
// Exit codes: 0 every run done, 1 some run failed (the report says which), 2 bad input (nothing
// ran), 130 interrupted (Ctrl-C or SIGTERM; the running runs stop after their current step).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

#include "nets/registry.h"
#include "tools/lib/faults.h"
#include "tools/tool_common.h"
#include "train/files.h"
#include "train/preflight.h"
#include "train/sweep_report.h"
#include "train/sweep_runs.h"

using namespace dybat;
namespace fs = std::filesystem;

namespace {

fs::path program_dir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

// The source tree (for tools/plot-sweep and git describe): $DYBAT_ROOT, else the build folder's parent.
std::string source_dir() {
  if (const char* r = std::getenv("DYBAT_ROOT"); r && *r) return r;
  fs::path up = program_dir().parent_path();
  return fs::exists(up / "tools" / "plot-sweep") ? up.string() : "";
}

ReportContext report_context(const std::string& command) {
  ReportContext ctx;
  ctx.command = command;
  ctx.source_dir = source_dir();
  if (!ctx.source_dir.empty()) ctx.plot_script = (fs::path(ctx.source_dir) / "tools" / "plot-sweep").string();
  if (const char* p = std::getenv("DYBAT_PYTHON"); p && *p) ctx.python = p;
  return ctx;
}

std::string command_text(int argc, char** argv) {
  std::string s = "./tools/sweep";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool plain = !a.empty() && a.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                   "-_=.,:/+@") == std::string::npos;
    s += " " + (plain ? a : "'" + a + "'");
  }
  return s;
}

// The run's last evaluation, as a result line.
std::string result_line(const std::string& dir) {
  std::vector<nlohmann::json> rows = read_metrics(dir);
  if (rows.empty()) return "no evaluation";
  double best = 0;
  for (const auto& r : rows) best = std::max(best, r.value("test_top1", 0.0));
  const auto& r = rows.back();
  return tools::fmt("test top-1 %.2f%% (best %.2f%%), top-5 %.2f%%, AUROC %.4f", r.value("test_top1", 0.0), best,
                    r.value("test_top5", 0.0), r.value("test_auroc", 0.0));
}

// The last line of the run's train.log that says "error", else its last line.
std::string log_reason(const std::string& dir) {
  const std::string log = (fs::path(dir) / "train.log").string();
  if (!file_exists(log)) return "";
  std::string text = read_file(log), last, error;
  size_t a = 0;
  while (a < text.size()) {
    size_t b = text.find('\n', a);
    std::string line = text.substr(a, b == std::string::npos ? std::string::npos : b - a);
    if (!line.empty()) last = line;
    if (line.find("error") != std::string::npos) error = line;
    a = b == std::string::npos ? text.size() : b + 1;
  }
  return error.empty() ? last : error;
}

int run(int argc, char** argv) {
  CLI::App app{"Runs a grid of training runs (nets x methods x deltas x seeds) and writes the paper's table.", "sweep"};
  SweepSpec spec;
  bool report_only = false, dry_run = false;
  app.add_option("--nets", spec.nets, "comma list of nets (" + tools::join(net_names()) + ")");
  app.add_option("--select", spec.selects,
                 "comma list of selection methods (" + tools::join(select_method_names()) + "; default dybat)");
  app.add_option("--delta", spec.deltas, "comma list of deltas in (0, 1]; 1 is the baseline");
  app.add_option("--seeds", spec.seeds, "comma list of seeds (default 0)");
  app.add_option("--preset", spec.preset, "quick (crop 32, a subset, a few epochs) or paper (the paper's settings)");
  app.add_option("--out", spec.out, "the sweep folder (runs in OUT/runs/, report.md and report.json in OUT)");
  app.add_option("--devices", spec.devices, "comma list of devices: one run per device at once (e.g. cuda:0,cuda:1)");
  app.add_flag("--report-only", report_only,
               "write the report of the sweep in --out from its run folders, run nothing");
  app.add_flag("--dry-run", dry_run, "print the grid's train commands, run nothing");
  app.allow_extras();
  app.footer(
      "Every other flag is passed to each run (see ./tools/train --help); explicit flags override a preset's.\n"
      "Under mpirun each rank takes the cells i with i % size == rank (OMPI_COMM_WORLD_RANK and _SIZE), on\n"
      "devices[OMPI_COMM_WORLD_LOCAL_RANK % n] with --devices. Run the same command again to continue.");
  std::vector<std::string> args = rewrite_single_dash(std::vector<std::string>(argv + 1, argv + argc));
  tools::parse_command_line(app, args);
  spec.train_args = app.remaining();
  const std::string command = command_text(argc, argv);

  if (report_only) {
    DYBAT_CHECK(!spec.out.empty(), "--report-only needs --out (the sweep folder)");
    std::string recorded;
    SweepGrid g = read_grid(spec.out, &recorded);
    std::string note = write_report(g, report_context(recorded));
    std::printf("report: %s/report.md%s\n", spec.out.c_str(), note.empty() ? "" : (" (" + note + ")").c_str());
    return 0;
  }

  SweepGrid grid = make_grid(spec);
  const RankShare rank = rank_from_env();
  const std::vector<size_t> mine = share_of(grid.cells.size(), rank);
  for (const SweepCell& c : grid.cells) check_run_matches(cell_dir(grid.out, c), c.config);
  const std::string train = (program_dir() / "train").string();
  if (dry_run) {
    for (size_t i : mine) {
      std::string line = train;
      for (const std::string& a : grid.cells[i].args) line += " " + a;
      std::printf("%s --out %s\n", line.c_str(), cell_dir(grid.out, grid.cells[i]).c_str());
    }
    return 0;
  }
  DYBAT_CHECK(fs::exists(train), "the train program is not built next to sweep (", train,
              "); build it: cmake --build build --target train");
  check_writable(grid.out, "--out");
  make_dirs(grid.out);
  write_text_atomic((fs::path(grid.out) / "sweep.json").string(), grid_to_json(grid, command).dump(1) + "\n");

  std::vector<std::string> slots;
  if (!grid.devices.empty())
    slots = rank.size > 1
                ? std::vector<std::string>{grid.devices[static_cast<size_t>(rank.local_rank) % grid.devices.size()]}
                : grid.devices;
  std::fprintf(
      stderr, "dybat sweep: %zu runs into %s%s; devices: %s\n", grid.cells.size(), grid.out.c_str(),
      rank.size > 1 ? tools::fmt(" (rank %d of %d: %zu of them)", rank.rank, rank.size, mine.size()).c_str() : "",
      slots.empty() ? "as the train flags say (one run at a time)" : tools::join(slots).c_str());

  const fs::path marks = fs::path(grid.out) / "ranks";
  if (rank.size > 1) fs::remove(marks / (std::to_string(rank.rank) + ".done"));
  const tools::SweepFaultPlan sweep_faults = tools::sweep_faults_from_env();
  const size_t kill_run = sweep_faults.kill_run;
  const std::string kill_step = std::to_string(sweep_faults.kill_at_step);
  std::vector<SweepJob> jobs;
  size_t number = 0, done = 0, failed = 0;
  for (size_t i : mine) {
    const SweepCell& c = grid.cells[i];
    const std::string dir = cell_dir(grid.out, c);
    RunStatus st = inspect_run(dir, c.config.epochs);
    ++number;
    if (st.state == RunState::Done) {
      ++done;
      std::fprintf(stderr, "[%zu/%zu] %s: done already, kept: %s\n", number, mine.size(), c.name.c_str(),
                   result_line(dir).c_str());
      continue;
    }
    SweepJob job;
    job.number = number;
    job.of = mine.size();
    job.cell = &c;
    job.dir = dir;
    job.resume = st.started;
    job.pinned = st.device;
    if (kill_run == jobs.size() + 1) job.env.push_back("DYBAT_FAULT_KILL_AT_STEP=" + kill_step);
    jobs.push_back(job);
  }
  size_t left = jobs.size();
  const size_t kill_number = kill_run > 0 && kill_run <= jobs.size() ? jobs[kill_run - 1].number : 0;
  ScheduleHooks hooks;
  hooks.started = [&](const SweepJob& j, const std::string& device) {
    RunStatus st = inspect_run(j.dir, j.cell->config.epochs);
    std::string how = j.resume ? tools::fmt("resuming from step %lld of %lld", static_cast<long long>(st.step),
                                            static_cast<long long>(st.total_steps))
                               : std::string("starting");
    if (st.state == RunState::Failed) how += " (the last attempt " + st.describe(j.dir).substr(8) + ")";
    std::fprintf(stderr, "[%zu/%zu] %s: %s%s; log %s/train.log\n", j.number, j.of, j.cell->name.c_str(), how.c_str(),
                 device.empty() ? "" : (" on " + device).c_str(), j.dir.c_str());
  };
  hooks.finished = [&](const SweepJob& j, const RunAttempt& a) {
    --left;
    RunStatus st = inspect_run(j.dir, j.cell->config.epochs);
    std::string what;
    if (st.state == RunState::Done) {
      ++done;
      what = "done in " + tools::duration(a.wall_s) + ": " + result_line(j.dir);
    } else if (st.state == RunState::Failed) {
      ++failed;
      what = st.describe(j.dir) + ": " + log_reason(j.dir);
    } else {
      what = "stopped, " + st.describe(j.dir) + " (resumes on the next run of this command)";
    }
    std::fprintf(stderr, "[%zu/%zu] %s: %s; %zu left\n", j.number, j.of, j.cell->name.c_str(), what.c_str(), left);
    std::fflush(stderr);
    if (j.number == kill_number && a.signal == SIGKILL) std::raise(SIGKILL);  // fault injection
  };
  const bool completed = run_jobs(train, jobs, slots, hooks);

  // Each rank marks its share finished; the rank that finds every mark writes the report.
  bool last = rank.size == 1;
  if (completed && rank.size > 1) {
    make_dirs(marks.string());
    write_text_atomic((marks / (std::to_string(rank.rank) + ".done")).string(), command + "\n");
    last = true;
    for (int r = 0; r < rank.size; ++r) last = last && fs::exists(marks / (std::to_string(r) + ".done"));
  }
  if (last || !completed) {
    std::string note = write_report(grid, report_context(command));
    std::printf("report: %s%s\n", (fs::path(grid.out) / "report.md").string().c_str(),
                note.empty() ? "" : (" (" + note + ")").c_str());
  } else {
    std::printf("this rank's share is done; the last rank to finish writes %s/report.md\n", grid.out.c_str());
  }
  std::fprintf(stderr, "dybat sweep: %zu of %zu runs done%s%s\n", done, mine.size(),
               failed ? tools::fmt(", %zu failed", failed).c_str() : "",
               completed ? "" : "; interrupted: run the same command again to continue");
  if (!completed) return 130;
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::main_guard("sweep", [&] { return run(argc, argv); });
}
