// A sweep's report: report.json (every number, each run's and each setting's) and report.md (the
// tables and figures), built from the grid and the run folders alone, so it can be rebuilt at any
// time (tools/sweep --report-only).
//
// A setting is (net, method, delta); its numbers are over the seeds whose runs are done, as
// mean ± sample standard deviation (n - 1; none for one seed). Per setting:
//   final_top1, top5, auroc   the last evaluation's test metrics (every setting of a net trains
//                             the same number of steps: the comparison by equal steps, as the paper)
//   best_top1                 the highest test top-1 of any evaluation
//   epochs_to_target          the first evaluation's epoch at which test top-1 reaches the net's
//                             target, 95% of the baseline's mean final test top-1 (baseline: delta 1,
//                             method dybat, same net); reached = how many seeds reach it
//   saving_pct                100 * (1 - epochs_to_target / the baseline's epochs_to_target), when
//                             every seed of both reaches the target
//   wall_s, img_per_s         the run's elapsed_s at its last evaluation (training and evaluation,
//                             summed over resumes), and the mean training throughput over its
//                             evaluation intervals
//   equal_time_top1           test top-1 at the net's equal_time_s, the mean wall time of its fastest
//                             setting, read off each run's (elapsed_s, test top-1) rows by linear
//                             interpolation: the comparison by equal wall time
//   equal_time_epoch          the epoch (steps / b) each run had reached at equal_time_s
//   trained_epochs            samples through a training forward and backward, in epochs of the
//                             training split (select_work in the checkpoint; one batch per step
//                             for dybat); scored_epochs: samples through a no-grad scoring forward
//                             only (sample-topk, selective-backprop): the methods' extra compute
//   curve                     test top-1 by epoch: mean and std over seeds (the figures)
// Per net: params and GFLOPs as tools/summary counts them (nets/summary.h, at the runs' crop and
// class count), the baseline, the target and equal_time_s.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "train/sweep_grid.h"

namespace dybat {

// The report's data: {"sweep", "std", "runs": [...], "settings": [...], "nets": [...]}; numbers
// that do not exist (no finished seed, a target never reached) are null.
nlohmann::json build_report(const SweepGrid& g);

// The machine that writes the report: CPU model, hardware threads, OMP_NUM_THREADS, GPU names
// (from nvidia-smi, when present).
nlohmann::json machine_info();
// dybat's version, and `git describe --always --dirty` of `source_dir` when it is a git checkout.
nlohmann::json version_info(const std::string& source_dir);

// report.md from report.json's content (with "command", "version", "machine" and "figures" added
// by write_report).
std::string render_markdown(const nlohmann::json& report);

struct ReportContext {
  std::string command;      // the sweep's command line
  std::string source_dir;   // for version_info ("" = unknown)
  std::string plot_script;  // tools/plot-sweep ("" = not found: no figures)
  std::string python = "/usr/bin/python3";
};
// Writes OUT/report.json, one figure per net (OUT/figure-<net>.png, drawn by plot_script with
// matplotlib; when that is missing the report says so and the tables are still written) and
// OUT/report.md, each atomically. Returns the figures note ("" when every figure was drawn).
std::string write_report(const SweepGrid& g, const ReportContext& ctx);

}  // namespace dybat
