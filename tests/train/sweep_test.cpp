// The sweep's bookkeeping without running anything: mean ± std, epochs to a target and values at
// a wall time against numbers worked by hand, the grid (names, order, presets, bad values), run
// folder states, and the report built from hand-made run folders.
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/safetensors.h"
#include "nets/summary.h"
#include "support/paths.h"
#include "support/test_util.h"
#include "support/train_util.h"
#include "train/files.h"
#include "train/sweep_report.h"
#include "train/sweep_runs.h"
#include "train/sweep_stats.h"

using namespace dybat;

namespace {

SweepSpec spec(const std::string& nets, const std::string& deltas, const std::string& seeds,
               std::vector<std::string> train = {"--dataset", "synthetic", "--crop", "32"}) {
  SweepSpec s;
  s.nets = nets;
  s.deltas = deltas;
  s.seeds = seeds;
  s.train_args = std::move(train);
  s.out = "/tmp/sweep-out";
  return s;
}

std::string grid_error(const SweepSpec& s) {
  return test::error_of([&] { make_grid(s); });
}

struct Row {
  double epoch, top1, elapsed;
};

// A finished run folder as train leaves it: config.json, both checkpoint headers at the last step,
// metrics.jsonl with the given rows (top-5 = top-1 + 10, AUROC = top-1 / 100).
void fake_run(const std::string& dir, const SweepCell& c, const std::vector<Row>& rows, double img_per_s) {
  make_dirs(dir);
  const int64_t total = static_cast<int64_t>(rows.size()) * 10;
  nlohmann::json config = config_to_json(c.config);
  config["resolved"] = {
      {"total_steps", total}, {"classes", 10}, {"device", "cpu"}, {"train_samples", 10 * c.config.batch_size}};
  write_file_atomic(dir + "/config.json", config.dump());
  std::string jsonl;
  for (const Row& r : rows)
    jsonl += nlohmann::json{{"step", static_cast<int64_t>(r.epoch * 10)},
                            {"epoch", r.epoch},
                            {"test_top1", r.top1},
                            {"test_top5", r.top1 + 10},
                            {"test_auroc", r.top1 / 100},
                            {"test_loss", 1.0},
                            {"train_loss", 1.0},
                            {"elapsed_s", r.elapsed},
                            {"img_per_s", img_per_s}}
                 .dump() +
             "\n";
  write_file_atomic(dir + "/metrics.jsonl", jsonl);
  Tensor t = Tensor::from_vector<float>({1.0f}, {1});
  for (const char* f : {"state.safetensors", "model.safetensors"})
    write_safetensors(dir + "/" + f, {{"x", t}}, {{"step", std::to_string(total)}});
}

}  // namespace

TEST(SweepStats, MeanAndSampleStdByHand) {
  MeanStd a = mean_std({70, 72, 74});  // deviations -2, 0, 2: sum of squares 8, / (3 - 1) = 4
  EXPECT_DOUBLE_EQ(a.mean, 72);
  EXPECT_DOUBLE_EQ(a.std, 2);
  EXPECT_EQ(a.n, 3);
  MeanStd b = mean_std({1, 2, 3, 4});  // sum of squares 1.5^2 * 2 + 0.5^2 * 2 = 5, / 3
  EXPECT_DOUBLE_EQ(b.mean, 2.5);
  EXPECT_NEAR(b.std, std::sqrt(5.0 / 3.0), 1e-15);
  MeanStd one = mean_std({61.25});
  EXPECT_DOUBLE_EQ(one.mean, 61.25);
  EXPECT_TRUE(std::isnan(one.std));
  MeanStd skip = mean_std({1, std::nan(""), 3});  // a missing value is left out, not counted as 0
  EXPECT_EQ(skip.n, 2);
  EXPECT_DOUBLE_EQ(skip.mean, 2);
  EXPECT_DOUBLE_EQ(skip.std, std::sqrt(2.0));
  EXPECT_EQ(mean_std({}).n, 0);
  EXPECT_TRUE(std::isnan(mean_std({}).mean));
  MeanStd big = mean_std({1e9 + 1, 1e9 + 2, 1e9 + 3});  // no cancellation from sum x^2 - n mean^2
  EXPECT_DOUBLE_EQ(big.std, 1.0);
}

TEST(SweepStats, EpochsToReachOnAHandMadeTable) {
  // The baseline ends at 64: the target is 0.95 * 64 = 60.8.
  const std::vector<double> epochs = {1, 2, 3, 4, 5}, top1 = {20, 45, 61, 58, 70};
  EXPECT_EQ(epochs_to_reach(epochs, top1, 0.95 * 64), 3);  // the first row at or above, even if it drops after
  EXPECT_EQ(epochs_to_reach(epochs, top1, 45), 2);         // equal counts
  EXPECT_EQ(epochs_to_reach(epochs, top1, 10), 1);
  EXPECT_TRUE(std::isnan(epochs_to_reach(epochs, top1, 70.5)));
  EXPECT_TRUE(std::isnan(epochs_to_reach({}, {}, 1)));
  // Evaluations every half epoch (--eval-every b/2).
  EXPECT_EQ(epochs_to_reach({0.5, 1, 1.5}, {30, 50, 60}, 49), 1);
}

TEST(SweepStats, ValueAtAWallTime) {
  const std::vector<double> t = {10, 20, 30}, y = {40, 50, 70};
  EXPECT_DOUBLE_EQ(value_at(t, y, 25), 60);
  EXPECT_DOUBLE_EQ(value_at(t, y, 10), 40);
  EXPECT_DOUBLE_EQ(value_at(t, y, 30), 70);
  EXPECT_DOUBLE_EQ(value_at(t, y, 45), 70);    // the run had ended: its last value
  EXPECT_TRUE(std::isnan(value_at(t, y, 5)));  // nothing measured yet
  EXPECT_TRUE(std::isnan(value_at({}, {}, 5)));
}

TEST(SweepGrid, CellsNamesAndArguments) {
  SweepSpec s = spec("resnet18,mobilenetv3_small", "1,0.5", "0,1");
  SweepGrid g = make_grid(s);
  ASSERT_EQ(g.cells.size(), 8u);
  // Net-major, then seed, method, delta; aliases become canonical names.
  EXPECT_EQ(g.cells[0].name, "resnet18-dybat-d1-s0");
  EXPECT_EQ(g.cells[1].name, "resnet18-dybat-d0.5-s0");
  EXPECT_EQ(g.cells[2].name, "resnet18-dybat-d1-s1");
  EXPECT_EQ(g.cells[7].name, "mobilenetv3_small_100-dybat-d0.5-s1");
  EXPECT_EQ(cell_dir("/tmp/sweep-out", g.cells[1]), "/tmp/sweep-out/runs/resnet18-dybat-d0.5-s0");
  EXPECT_EQ(g.cells[1].args, (std::vector<std::string>{"--dataset", "synthetic", "--crop", "32", "--net", "resnet18",
                                                       "--select", "dybat", "--delta", "0.5", "--seed", "0"}));
  EXPECT_EQ(g.cells[1].config.delta, 0.5);
  EXPECT_EQ(g.cells[1].config.out, "/tmp/sweep-out/runs/resnet18-dybat-d0.5-s0");
  EXPECT_EQ(cell_name("resnet18", "dybat", 0.1 + 0.2, 3), "resnet18-dybat-d0.30000000000000004-s3");  // exact
  // sweep.json round trip.
  const std::string dir = test::temp_dir("sweep_grid");
  s.out = dir;
  g = make_grid(s);
  write_text_atomic(dir + "/sweep.json", grid_to_json(g, "cmd").dump());
  std::string command;
  SweepGrid back = read_grid(dir, &command);
  EXPECT_EQ(command, "cmd");
  ASSERT_EQ(back.cells.size(), g.cells.size());
  EXPECT_EQ(back.cells[5].name, g.cells[5].name);
  EXPECT_EQ(config_to_json(back.cells[5].config), config_to_json(g.cells[5].config));
  std::filesystem::remove_all(dir);
}

TEST(SweepGrid, PresetsAndOverrides) {
  SweepSpec s = spec("", "", "", {"--crop", "48", "--dataset", "synthetic"});
  s.preset = "quick";
  SweepGrid q = make_grid(s);
  ASSERT_FALSE(q.cells.empty());
  EXPECT_EQ(q.cells[0].config.crop, 48);  // the explicit flag wins
  EXPECT_EQ(q.cells[0].config.batch_size, 64);
  EXPECT_EQ(q.cells[0].config.train_limit, 2048);
  s.preset = "paper";
  s.train_args = {"--dataset", "synthetic"};
  SweepGrid p = make_grid(s);
  ASSERT_EQ(p.cells.size(), 10u);  // five nets, each with delta 1 and the paper's delta, seed 0
  std::vector<std::string> names;
  for (const SweepCell& c : p.cells) names.push_back(c.name);
  for (const char* n :
       {"resnet18-dybat-d0.5-s0", "resnet50-dybat-d0.5-s0", "efficientnet_b4-dybat-d0.8-s0",
        "efficientnetv2_s-dybat-d0.8-s0", "mobilenetv3_small_100-dybat-d0.2-s0", "mobilenetv3_small_100-dybat-d1-s0"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_EQ(p.cells[0].config.crop, 128);
  EXPECT_EQ(p.cells[0].config.batch_size, 512);
  EXPECT_EQ(p.cells[0].config.lr, 0.005);
  EXPECT_EQ(p.cells[0].config.epochs, 100);
  s.nets = "resnet18";
  s.deltas = "0.25";  // an explicit list replaces the paper's deltas
  SweepGrid one = make_grid(s);
  ASSERT_EQ(one.cells.size(), 1u);
  EXPECT_EQ(one.cells[0].name, "resnet18-dybat-d0.25-s0");
}

TEST(SweepGrid, BadValuesAreNamed) {
  struct Case {
    SweepSpec s;
    std::string message;
  };
  auto with = [](SweepSpec s, auto f) {
    f(s);
    return s;
  };
  const SweepSpec ok = spec("resnet18", "1,0.5", "0");
  const Case cases[] = {
      {with(ok, [](SweepSpec& s) { s.nets = "resnet18,nosuchnet"; }), "--nets: unknown net 'nosuchnet'"},
      {with(ok, [](SweepSpec& s) { s.selects = "dybat,hardest"; }),
       "--select: unknown method 'hardest'; choose from: dybat, random, sample-topk"},
      {with(ok, [](SweepSpec& s) {
         s.selects = "random";
         s.deltas = "1";
       }),
       "--select random needs a --delta below 1"},
      {with(ok, [](SweepSpec& s) { s.deltas = "1,1.5"; }), "--delta: 1.5 is outside (0, 1]"},
      {with(ok, [](SweepSpec& s) { s.deltas = "0"; }), "--delta: 0 is outside (0, 1]"},
      {with(ok, [](SweepSpec& s) { s.deltas = "half"; }), "--delta: 'half' is not a number"},
      {with(ok, [](SweepSpec& s) { s.deltas = "nan"; }), "--delta: 'nan' is not a number"},
      {with(ok, [](SweepSpec& s) { s.deltas = " "; }), "--delta: the list is empty"},
      {with(ok, [](SweepSpec& s) { s.seeds = "0,,1"; }), "--seeds: an empty item in '0,,1'"},
      {with(ok, [](SweepSpec& s) { s.seeds = "-1"; }), "--seeds: '-1' is not a seed"},
      {with(ok, [](SweepSpec& s) { s.seeds = "1x"; }), "--seeds: '1x' is not a seed"},
      {with(ok, [](SweepSpec& s) { s.seeds = "2,2"; }), "--seeds: '2' is given twice"},
      {with(ok, [](SweepSpec& s) { s.nets = "resnet18,resnet18"; }), "--nets: 'resnet18' is given twice"},
      {with(ok, [](SweepSpec& s) { s.preset = "huge"; }),
       "--preset: unknown preset 'huge'; choose one of: quick, paper"},
      {with(ok, [](SweepSpec& s) { s.nets = ""; }), "--nets is required"},
      {with(ok, [](SweepSpec& s) { s.deltas = ""; }), "--delta is required"},
      {with(ok, [](SweepSpec& s) { s.out = ""; }), "--out"},
      {with(ok,
            [](SweepSpec& s) {
              s.train_args = {"--crop", "5"};
            }),
       "--crop must be in [8, 1024], got 5"},
      {with(ok, [](SweepSpec& s) { s.train_args = {"--bogus"}; }), "bogus"},
      {with(ok,
            [](SweepSpec& s) {
              s.train_args = {"--seed", "3"};
            }),
       "--seed: the sweep sets it for each run; use --seeds"},
      {with(ok,
            [](SweepSpec& s) {
              s.train_args = {"-a", "resnet50"};
            }),
       "--net: the sweep sets it"},
      {with(ok, [](SweepSpec& s) { s.devices = "cpu,gpu7"; }), "--devices: unknown device 'gpu7'"},
      {with(ok,
            [](SweepSpec& s) {
              s.devices = "cpu";
              s.train_args = {"--device", "cpu"};
            }),
       "--device and --devices"},
  };
  for (const Case& c : cases) {
    std::string msg = grid_error(c.s);
    EXPECT_NE(msg.find(c.message), std::string::npos) << "expected '" << c.message << "', got '" << msg << "'";
  }
}

TEST(SweepRuns, StatesFromTheFolder) {
  const std::string dir = test::temp_dir("sweep_states");
  SweepGrid g = make_grid(spec("mobilenetv3_small_100", "1", "0"));
  const SweepCell& c = g.cells[0];
  const std::string run = dir + "/run";
  EXPECT_EQ(inspect_run(run, c.config.epochs).state, RunState::Pending);
  EXPECT_EQ(checkpoint_step(run + "/state.safetensors"), -1);
  make_dirs(run);
  write_attempt(run, {2, 0, 1.5, "cpu"});  // failed before it wrote config.json
  RunStatus failed = inspect_run(run, c.config.epochs);
  EXPECT_EQ(failed.state, RunState::Failed);
  EXPECT_EQ(failed.describe(run), "failed: exit 2, see " + run + "/train.log");
  fake_run(run, c, {{1, 10, 1}, {2, 20, 2}}, 100);
  EXPECT_EQ(checkpoint_step(run + "/state.safetensors"), 20);
  EXPECT_EQ(inspect_run(run, c.config.epochs).state, RunState::Done);
  // More epochs asked: the same folder is continued (--resume --epochs).
  EXPECT_EQ(inspect_run(run, c.config.epochs + 1).state, RunState::Failed);  // still its last attempt's word
  write_attempt(run, {130, 0, 1.5, "cpu"});
  EXPECT_EQ(inspect_run(run, c.config.epochs + 1).state, RunState::Incomplete);
  // A model file behind the state (a crash between the two renames) is not done.
  write_safetensors(run + "/model.safetensors", {{"x", Tensor::from_vector<float>({1.0f}, {1})}}, {{"step", "10"}});
  EXPECT_EQ(inspect_run(run, c.config.epochs).state, RunState::Incomplete);
  // The folder's settings must be the cell's.
  EXPECT_NO_THROW(check_run_matches(run, c.config));
  TrainConfig other = c.config;
  other.lr = 0.1;
  std::string msg = test::error_of([&] { check_run_matches(run, other); });
  EXPECT_NE(msg.find("holds a run with --lr 0.005, but this sweep gives it 0.1"), std::string::npos) << msg;
  other = c.config;
  other.device = "cuda:1";  // where it runs does not change what it computes
  EXPECT_NO_THROW(check_run_matches(run, other));
  // metrics.jsonl cut short: the partial row is left out.
  append_file(run + "/metrics.jsonl", "{\"step\": 30, \"test_to");
  EXPECT_EQ(read_metrics(run).size(), 2u);
  std::filesystem::remove_all(dir);
}

TEST(SweepGrid, MethodsGetTheirDeltasAndTheirOwnSettings) {
  SweepSpec s = spec("resnet18", "1,0.5", "0", {"--dataset", "synthetic", "--keep", "0.25", "--beta=2", "--zeta", "9"});
  s.selects = "dybat,random,sample-topk,selective-backprop,infobatch";
  SweepGrid g = make_grid(s);
  std::vector<std::string> names;
  for (const SweepCell& c : g.cells) names.push_back(c.name);
  // dybat at both deltas, random below 1 only (at 1 it is dybat's run), the sample methods once.
  EXPECT_EQ(names, (std::vector<std::string>{"resnet18-dybat-d1-s0", "resnet18-dybat-d0.5-s0",
                                             "resnet18-random-d0.5-s0", "resnet18-sample-topk-d1-s0",
                                             "resnet18-selective-backprop-d1-s0", "resnet18-infobatch-d1-s0"}));
  EXPECT_EQ(g.cells[0].args, (std::vector<std::string>{"--dataset", "synthetic", "--zeta", "9", "--net", "resnet18",
                                                       "--select", "dybat", "--delta", "1", "--seed", "0"}));
  EXPECT_EQ(g.cells[3].args, (std::vector<std::string>{"--dataset", "synthetic", "--keep", "0.25", "--net",
                                                       "resnet18", "--select", "sample-topk", "--delta", "1", "--seed",
                                                       "0"}));
  EXPECT_EQ(g.cells[3].config.keep, 0.25);
  EXPECT_EQ(g.cells[4].config.beta, 2);
  EXPECT_EQ(g.cells[4].config.zeta, -1);
  EXPECT_EQ(g.cells[2].config.keep, 0.5);  // the default: --keep is not random's
  // A bad value of a method's setting still stops the grid, naming the run and the flag.
  s.train_args = {"--dataset", "synthetic", "--keep", "2"};
  std::string msg = grid_error(s);
  EXPECT_NE(msg.find("run resnet18-sample-topk-d1-s0: --keep must be in (0, 1]"), std::string::npos) << msg;
}

TEST(SweepReport, WorkOfTheSelectionMethods) {
  // A run's work comes from its checkpoint's select_work (trained and scored samples), in epochs
  // of the training split; a run without it trained one batch per step.
  const std::string dir = test::temp_dir("sweep_work");
  SweepSpec s = spec("mobilenetv3_small_100", "1", "0");
  s.selects = "dybat,selective-backprop";
  s.out = dir;
  SweepGrid g = make_grid(s);
  ASSERT_EQ(g.cells.size(), 2u);
  const int64_t B = g.cells[1].config.batch_size;
  fake_run(cell_dir(dir, g.cells[0]), g.cells[0], {{1, 40, 10}, {2, 60, 20}}, 100);
  fake_run(cell_dir(dir, g.cells[1]), g.cells[1], {{1, 45, 15}, {2, 65, 30}}, 100);
  Tensor t = Tensor::from_vector<float>({1.0f}, {1});
  const nlohmann::json work = {{"trained_samples", 20 * B}, {"scored_samples", 50 * B}};
  write_safetensors(cell_dir(dir, g.cells[1]) + "/state.safetensors", {{"x", t}},
                    {{"step", "20"}, {"select_work", work.dump()}});
  nlohmann::json r = build_report(g);
  ASSERT_EQ(r["settings"].size(), 2u);
  EXPECT_DOUBLE_EQ(r["settings"][0]["trained_epochs"]["mean"].get<double>(), 2);
  EXPECT_DOUBLE_EQ(r["settings"][0]["scored_epochs"]["mean"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(r["settings"][1]["trained_epochs"]["mean"].get<double>(), 2);
  EXPECT_DOUBLE_EQ(r["settings"][1]["scored_epochs"]["mean"].get<double>(), 5);
  // Equal wall time: T = 20 s (the baseline's); the other run had reached epoch 1 + 5 / 15 by then.
  EXPECT_DOUBLE_EQ(r["settings"][1]["equal_time_epoch"]["mean"].get<double>(), 1.0 + 5.0 / 15.0);
  EXPECT_DOUBLE_EQ(r["settings"][0]["equal_time_epoch"]["mean"].get<double>(), 2);
  r["version"] = version_info("");
  r["machine"] = machine_info();
  const std::string md = render_markdown(r);
  EXPECT_NE(md.find("| selective-backprop | 1 | 20 | 2.00 | 5.00 |"), std::string::npos) << md;
  std::filesystem::remove_all(dir);
}

TEST(SweepReport, TablesFromHandMadeRuns) {
  const std::string dir = test::temp_dir("sweep_report");
  SweepSpec s = spec("mobilenetv3_small_100", "1,0.5", "0,1,2");
  s.out = dir;
  SweepGrid g = make_grid(s);
  ASSERT_EQ(g.cells.size(), 6u);  // s0 d1, s0 d0.5, s1 d1, s1 d0.5, s2 d1, s2 d0.5
  // Baseline (delta 1): finals 80, 76, 78 -> 78 ± 2; target 0.95 * 78 = 74.1, reached at epoch 4 by all.
  fake_run(cell_dir(dir, g.cells[0]), g.cells[0], {{1, 40, 10}, {2, 60, 20}, {3, 70, 30}, {4, 80, 40}}, 100);
  fake_run(cell_dir(dir, g.cells[2]), g.cells[2], {{1, 42, 11}, {2, 58, 22}, {3, 74, 33}, {4, 76, 44}}, 110);
  fake_run(cell_dir(dir, g.cells[4]), g.cells[4], {{1, 38, 12}, {2, 62, 24}, {3, 72, 36}, {4, 78, 48}}, 120);
  // Delta 0.5: finals 81, 79 -> 80 ± sqrt(2); the target at epochs 2 and 3 -> 2.5; seed 2 failed.
  fake_run(cell_dir(dir, g.cells[1]), g.cells[1], {{1, 50, 8}, {2, 75, 16}, {3, 79, 24}, {4, 81, 32}}, 130);
  fake_run(cell_dir(dir, g.cells[3]), g.cells[3], {{1, 52, 9}, {2, 70, 18}, {3, 77, 27}, {4, 79, 36}}, 150);
  make_dirs(cell_dir(dir, g.cells[5]));
  write_attempt(cell_dir(dir, g.cells[5]), {2, 0, 0.5, ""});

  nlohmann::json r = build_report(g);
  ASSERT_EQ(r["settings"].size(), 2u);
  const nlohmann::json &base = r["settings"][0], &half = r["settings"][1];
  EXPECT_EQ(base["delta"], 1.0);
  EXPECT_TRUE(base["baseline"].get<bool>());
  EXPECT_DOUBLE_EQ(base["final_top1"]["mean"].get<double>(), 78);
  EXPECT_DOUBLE_EQ(base["final_top1"]["std"].get<double>(), 2);
  EXPECT_DOUBLE_EQ(base["top5"]["mean"].get<double>(), 88);
  EXPECT_DOUBLE_EQ(base["auroc"]["mean"].get<double>(), 0.78);
  EXPECT_DOUBLE_EQ(half["final_top1"]["mean"].get<double>(), 80);
  EXPECT_DOUBLE_EQ(half["final_top1"]["std"].get<double>(), std::sqrt(2.0));
  EXPECT_EQ(half["final_top1"]["n"], 2);
  EXPECT_EQ(half["done"], 2);
  EXPECT_EQ(half["seeds"], 3);
  EXPECT_DOUBLE_EQ(half["best_top1"]["mean"].get<double>(), 80);
  const nlohmann::json& net = r["nets"][0];
  EXPECT_DOUBLE_EQ(net["target_top1"].get<double>(), 0.95 * 78);
  EXPECT_DOUBLE_EQ(base["epochs_to_target"]["mean"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(half["epochs_to_target"]["mean"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(half["epochs_to_target"]["std"].get<double>(), std::sqrt(0.5));
  EXPECT_DOUBLE_EQ(half["saving_pct"].get<double>(), 37.5);  // 1 - 2.5 / 4
  EXPECT_DOUBLE_EQ(base["saving_pct"].get<double>(), 0);
  // Wall time: the baseline's mean is 44 s, delta 0.5's 34 s: T = 34 s.
  EXPECT_DOUBLE_EQ(base["wall_s"]["mean"].get<double>(), 44);
  EXPECT_DOUBLE_EQ(net["equal_time_s"].get<double>(), 34);
  EXPECT_DOUBLE_EQ(base["img_per_s"]["mean"].get<double>(), 110);
  // At 34 s: baseline seeds 70 + 0.4 * 10, 74 + 2 / 11, 62 + 10 * 10 / 12; delta 0.5: 81 (ended at
  // 32 s) and 77 + 2 * 7 / 9.
  const double b = (74.0 + (74.0 + 2.0 / 11.0) + (62.0 + 100.0 / 12.0)) / 3.0, h = (81.0 + (77.0 + 14.0 / 9.0)) / 2.0;
  EXPECT_NEAR(base["equal_time_top1"]["mean"].get<double>(), b, 1e-12);
  EXPECT_NEAR(half["equal_time_top1"]["mean"].get<double>(), h, 1e-12);
  EXPECT_NEAR(half["equal_time_vs_baseline"].get<double>(), h - b, 1e-12);
  // The curve: mean and std over seeds per epoch.
  EXPECT_EQ(base["curve"]["epoch"], nlohmann::json({1.0, 2.0, 3.0, 4.0}));
  EXPECT_DOUBLE_EQ(base["curve"]["mean"][0].get<double>(), 40);
  EXPECT_DOUBLE_EQ(base["curve"]["std"][0].get<double>(), 2);
  // Params and GFLOPs as tools/summary counts them.
  NetSummary sum = summarize_net("mobilenetv3_small_100", 32, 10);
  EXPECT_EQ(net["params"], sum.params);
  EXPECT_DOUBLE_EQ(net["gflops"].get<double>(), sum.gflops);
  // The failed seed is in the table, named with its log.
  EXPECT_EQ(r["runs"][5]["status"], "failed");
  const std::string failed = "failed: exit 2, see " + cell_dir(dir, g.cells[5]) + "/train.log";
  EXPECT_EQ(r["runs"][5]["status_text"], failed);

  // The files: without matplotlib the tables are still written and the report says so.
  const std::string no_mpl = dir + "/python-without-site";
  write_file_atomic(no_mpl, "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n");
  std::filesystem::permissions(no_mpl, std::filesystem::perms::owner_all);
  ReportContext ctx;
  ctx.command = "./tools/sweep --nets mobilenetv3_small_100";
  ctx.plot_script = test::source_dir() + "/tools/plot-sweep";
  ctx.python = no_mpl;
  std::string note = write_report(g, ctx);
  EXPECT_NE(note.find("python3-matplotlib is missing"), std::string::npos) << note;
  std::string md = read_file(dir + "/report.md");
  for (const char* part :
       {"| mobilenetv3_small_100 | ",
        " | dybat | 1 | 40 | 4.00 ± 0.00 | 0.00 ± 0.00 | 78.00 ± 2.00 | 78.00 ± 2.00 | 88.00 ± 2.00 |",
        " | dybat | 0.5 | 40 | 4.00 ± 0.00 | 0.00 ± 0.00 | 80.00 ± 1.41 |", "2/3 done; s2 ", failed.c_str(), "| 2.50 ± 0.71 | 2/2 | 37.5 |",
        "sample standard deviation", "python3-matplotlib is missing", "Command: `./tools/sweep"})
    EXPECT_NE(md.find(part), std::string::npos) << "missing '" << part << "' in\n" << md;
  auto json = nlohmann::json::parse(read_file(dir + "/report.json"));
  EXPECT_EQ(json["settings"][1]["saving_pct"], 37.5);
  EXPECT_TRUE(json["machine"].contains("cpu"));
  EXPECT_EQ(json["version"]["dybat"], kDybatVersion);

  // With matplotlib (where installed) one PNG per net.
  ctx.python = "/usr/bin/python3";
  if (std::system("/usr/bin/python3 -c 'import matplotlib' 2>/dev/null") == 0) {
    EXPECT_EQ(write_report(g, ctx), "");
    std::string png = read_file(dir + "/figure-mobilenetv3_small_100.png");
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_NE(read_file(dir + "/report.md").find("![mobilenetv3_small_100](figure-mobilenetv3_small_100.png)"),
              std::string::npos);
  } else {
    EXPECT_NE(write_report(g, ctx).find("python3-matplotlib is missing"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}
