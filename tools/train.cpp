// train: trains one of the nets with DyBAT (--delta < 1) or standard mini-batch training
// (--delta 1), logging metrics, the step trace and checkpoints into a run folder.
//
// Exit codes: 0 done, 2 bad input (flags, data, net) or a non-finite loss, 130 interrupted
// (Ctrl-C or SIGTERM: stops after the current step; continue with --resume).
//
// Under `mpirun -np N` every process is one rank of a data-parallel run (train/data_parallel.h):
// rank 0 prints and writes the run folder, every rank trains on its slice of each batch.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "core/settings.h"
#include "layers/precision.h"
#include "nets/registry.h"
#include "tools/lib/dist_main.h"
#include "tools/lib/faults.h"
#include "tools/tool_common.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/files.h"
#include "train/preflight.h"
#include "train/select_method.h"
#include "train/setup.h"
#include "train/step.h"
#include "train/trainer.h"

using namespace dybat;

namespace {

std::atomic<bool> g_interrupted{false};

// Ctrl-C or SIGTERM: finish the current step, then stop (the files stay consistent).
void on_sigint(int sig) {
  g_interrupted = true;
  std::signal(sig, SIG_DFL);  // a second signal ends the program at once
}

std::string default_out(const std::string& net, const std::string& dataset, double delta) {
  char stamp[32], d[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::snprintf(d, sizeof d, "%g", delta);
  return "logs/" + net + "-" + dataset + "-d" + d + "-" + stamp;
}

// Seconds for one training step of `batch` samples on the CPU, from steps of a few samples through
// a throwaway copy of the net (the run's own net and state are not touched), each the step the run
// itself takes (train/step.h): a step of 2 samples warms up, then steps of 4 and 8 give a
// per-sample cost and a fixed cost.
double probe_step_seconds(const std::string& net, int classes, int64_t batch, int crop, DType dtype) {
  Generator g(12345);
  auto m = create_net(net, classes, g);
  m->to(dtype);
  m->train();
  const Tensor lr = Tensor::full({1}, SgdOptions{}.lr, DType::Float64);
  auto timed_step = [&](int64_t n) {
    TrainStep step(*m, SgdOptions{}, n, dtype, Device::cpu());
    Tensor x = Tensor::zeros({n, 3, crop, crop}, dtype);
    Tensor y = Tensor::zeros({n}, DType::Int64);
    auto t0 = std::chrono::steady_clock::now();
    step.run(x, y, lr);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  timed_step(2);
  double t4 = timed_step(4), t8 = timed_step(8);
  double per_sample = (t8 - t4) / 4.0;
  if (per_sample <= 0) return t8 / 8.0 * static_cast<double>(batch);  // timing noise: scale linearly
  double fixed = std::max(0.0, t4 - 4.0 * per_sample);
  return fixed + per_sample * static_cast<double>(batch);
}

// A device allocation that failed inside the run becomes an error naming what did not fit and a
// batch size to try; other errors pass unchanged.
void rethrow_if_out_of_memory(const Error& e, const std::string& net, const TrainConfig& cfg) {
  if (!tools::is_out_of_memory(e)) return;
  DYBAT_FAIL(net, " with --batch-size ", cfg.batch_size, " at --crop ", cfg.crop, " does not fit in GPU memory (",
             e.message(), "); try --batch-size ", std::max<int64_t>(1, cfg.batch_size / 2),
             cfg.crop > 32 ? " or a smaller --crop" : "");
}

void print_progress(const Progress& p, bool tty) {
  char line[256];
  std::string loss = std::isnan(p.loss) ? std::string("--") : tools::fmt("%.4f", p.loss);
  std::string pass = p.pass == 0 ? std::string("warm-up") : tools::fmt("pass %lld", static_cast<long long>(p.pass));
  std::snprintf(line, sizeof line, "step %lld/%lld | epoch %.2f | %s | loss %s (step %lld) | %.0f img/s | ETA %s",
                static_cast<long long>(p.step), static_cast<long long>(p.total_steps), p.epoch, pass.c_str(), loss.c_str(),
                static_cast<long long>(p.loss_step), p.img_per_s, tools::duration(p.eta_s).c_str());
  if (tty) {
    std::fprintf(stderr, "\r%s\033[K", line);
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

int run(DistRun& dist, int argc, char** argv) {
  const tools::FaultPlan faults = tools::install_faults_from_env();
  const std::vector<std::string> raw_args(argv + 1, argv + argc);
  dist.check_same_arguments(raw_args);  // so a bad command line is every rank's error
  ParsedArgs args = parse_train_args(raw_args);
  TrainConfig cfg = args.config;
  bool resuming = !cfg.resume.empty();
  std::unique_ptr<RunLog> log;
  nlohmann::json saved_json;
  if (resuming) {
    log = std::make_unique<RunLog>(cfg.resume);
    saved_json = log->read_config();
    cfg = merge_resume_config(config_from_json(saved_json), args);
    // A run that found its dataset by looking under --data keeps that dataset when resumed.
    if (cfg.dataset.empty() && saved_json.contains("resolved")) cfg.dataset = saved_json["resolved"].value("dataset", "");
  }
  validate_config(cfg);
  dist.check_same_settings(config_to_json(cfg));
  dist.check_batch(cfg.batch_size, "--batch-size");
  if (dist.size() > 1 && cfg.select != "dybat")
    fail_on_every_rank("--select " + cfg.select + " runs in one process only: under mpirun only --select dybat (the "
                       "paper's batch selection) is built; start this run without mpirun");
  if (resuming) dist.check_resume_ranks(saved_json, cfg.resume);
  // An unwritable run folder is reported now, not after the data are loaded (rank 0 writes it).
  dist.on_root([&] {
    if (resuming)
      check_writable(cfg.resume, "--resume");
    else
      check_writable(cfg.out.empty() ? "logs" : cfg.out, "--out");
  });

  std::string net = canonical_net_name(cfg.net);
  DYBAT_CHECK(!net.empty(), "unknown net '", cfg.net, "'; choose one of: ", tools::join(net_names()));
  Device device = dist.device(cfg.device);
  DType dtype = dtype_from_name(cfg.dtype);
  DYBAT_CHECK(!(device.is_cuda() && dtype == DType::Float64), "--dtype float64 is for the CPU reference runs; use ",
              "--device cpu, or float32 on ", device.str());
  const DType compute = precision_from_name(cfg.precision);
  DYBAT_CHECK(compute != DType::BFloat16 || device.is_cuda(), "--precision bf16 (mixed precision) runs on CUDA only; ",
              "on ", device.str(), " use --precision fp32");
  // Resumed runs must reproduce the uninterrupted trace: only deterministic GPU algorithms.
  backend_settings().deterministic = true;
  apply_backend_config(cfg);

  Dataset ds = dist.load_dataset(cfg, device, cfg.batch_size);  // this rank's slices of the batches
  int classes = resolve_classes(cfg, ds);

  Generator g(cfg.seed);
  std::shared_ptr<Module> model = create_net(net, classes, g);
  // --weights seeds a fresh run; a resumed run takes its weights from the checkpoint.
  if (!cfg.weights.empty() && !(resuming && has_checkpoint(log->dir()))) load_model_file(*model, cfg.weights);
  model->to(dtype);
  model->to(device);
  set_compute_dtype(*model, compute);
  const RankSlice slice = rank_slice(cfg.batch_size, dist.rank(), dist.size());
  LoaderBatches train(ds.train, slice.count, cfg.crop, parse_augment(cfg.augment), cfg.seed);
  if (dist.size() > 1) train.set_slice_of(cfg.batch_size, slice.begin);
  LoaderBatches train_plain(ds.train, slice.count, cfg.crop);  // train metrics: never augmented
  LoaderBatches test(ds.test, slice.count, cfg.crop);

  if (!resuming) {  // rank 0 names the run folder (its clock), for every rank
    std::string out = cfg.out.empty() ? default_out(net, ds.name, cfg.delta) : cfg.out;
    log = std::make_unique<RunLog>(broadcast_text(dist.host(), out));
  }
  std::unique_ptr<Trainer> trainer_ptr;
  try {
    trainer_ptr = std::make_unique<Trainer>(cfg, *model, train, test, device, dtype, log.get());
  } catch (const Error& e) {
    rethrow_if_out_of_memory(e, net, cfg);
    throw;
  }
  Trainer& trainer = *trainer_ptr;
  if (parse_augment(cfg.augment).any()) trainer.evaluate_train_on(train_plain);
  std::unique_ptr<DataParallel> dp;
  if (dist.size() > 1) {
    DataParallelOptions o;
    o.sync_bn = cfg.sync_bn;
    o.bucket_bytes = static_cast<int64_t>(cfg.bucket_mb * 1024 * 1024);
    dp = std::make_unique<DataParallel>(*model, dist.communicator(device), dist.host(), o);
    trainer.set_data_parallel(dp.get());
  }
  const SchedulePlan& plan = trainer.plan();
  // Room for two checkpoints and the text logs (a trace row is under 40 bytes), before any step.
  dist.on_root([&] {
    check_free_space(log->dir(),
                     checkpoint_bytes(*model, plan.num_batches, cfg.momentum > 0) +
                         select_state_bytes(cfg, ds.train.size()),
                     static_cast<uint64_t>(plan.total_steps) * 40 + (1 << 20), resuming ? "--resume" : "--out");
  });

  nlohmann::json config = config_to_json(cfg);
  config["version"] = kDybatVersion;
  config["ranks"] = dist.size();  // a resumed run must have as many (DistRun::check_resume_ranks)
  config["resolved"] = {{"net", net},
                        {"dataset", ds.name},
                        {"classes", classes},
                        {"device", device.str()},
                        {"train_samples", ds.train.size()},
                        {"test_samples", ds.test.size()},
                        {"batches_per_epoch", plan.num_batches},
                        {"k", plan.k},
                        {"zeta", plan.zeta},
                        {"total_steps", plan.total_steps},
                        {"eval_every", trainer.eval_every()},
                        {"parameters", model->parameter_count()},
                        {"deterministic", backend_settings().deterministic},
                        {"tf32_conv", backend_settings().tf32_conv},
                        {"tf32_matmul", backend_settings().tf32_matmul},
                        {"conv_algo", conv_algo_search_name(backend_settings().conv_algo)},
                        {"cuda_graphs", trainer.uses_cuda_graphs()}};
  if (resuming) {
    dist.on_root([&] { has_checkpoint(log->dir()); });  // rank 0 finishes an interrupted commit first
    trainer.resume();
    config["created"] = saved_json.value("created", "");
    if (dist.root()) log->write_config(config);
  } else {
    config["created"] = tools::now_text();
    if (dist.root()) log->start(config);
  }
  if (dp) dp->broadcast_state();

  if (dist.root()) {
    std::fprintf(stderr,
                 "dybat train: %s (%.2fM parameters) on %s: %lld train / %lld test images, %d classes, crop %d\n"
                 "  %s: %s, %lld steps (%lld epochs), evaluation every %lld steps\n"
                 "  batch %lld, lr %g (%s), momentum %g, seed %llu, %s %s%s, BN in evaluation: %s\n"
                 "  run folder: %s%s\n",
                 net.c_str(), static_cast<double>(model->parameter_count()) / 1e6, ds.name.c_str(),
                 static_cast<long long>(ds.train.size() * dist.size()),
                 static_cast<long long>(ds.test.size() * dist.size()), classes, cfg.crop,
                 select_method_text(cfg).c_str(),
                 (select_uses_delta(cfg.select)
                      ? tools::fmt("k = %lld of b = %lld batches per pass", static_cast<long long>(plan.k),
                                   static_cast<long long>(plan.num_batches))
                      : tools::fmt("b = %lld batches per epoch", static_cast<long long>(plan.num_batches)))
                     .c_str(),
                 static_cast<long long>(plan.total_steps), static_cast<long long>(cfg.epochs),
                 static_cast<long long>(trainer.eval_every()), static_cast<long long>(cfg.batch_size), cfg.lr,
                 cfg.lr_schedule.c_str(), cfg.momentum, static_cast<unsigned long long>(cfg.seed), device.str().c_str(),
                 compute == DType::BFloat16 ? "bf16 mixed precision" : cfg.dtype.c_str(),
                 trainer.uses_cuda_graphs() ? " (CUDA graphs)" : "",
                 cfg.eval_bn == "batch" ? "batch statistics" : "running statistics",
                 log->dir().c_str(),
                 resuming ? tools::fmt(" (resumed at step %lld)", static_cast<long long>(trainer.step())).c_str() : "");
    if (device.is_cpu()) {
      double step_s = probe_step_seconds(net, classes, slice.count, cfg.crop, dtype);
      // An evaluation runs a forward (about a third of a step) over every train and test batch.
      double evals = std::ceil(static_cast<double>(plan.total_steps - trainer.step()) /
                               static_cast<double>(trainer.eval_every()));
      double eval_s = step_s / 3.0 * static_cast<double>(train.num_batches() + test.num_batches());
      double eta = step_s * static_cast<double>(plan.total_steps - trainer.step()) + evals * eval_s;
      std::fprintf(stderr, "  on the CPU: about %s per step, ETA %s.\n", tools::duration(step_s).c_str(),
                   tools::duration(eta).c_str());
      // A quick setting: whichever of these the run does not already use.
      std::string quick;
      if (cfg.crop > 32) quick += " --crop 32";
      if (cfg.batch_size > 64) quick += " --batch-size 64";
      if (cfg.epochs > 2) quick += " --epochs 2";
      if (cfg.train_limit == 0 || cfg.train_limit > 2048) quick += " --train-limit 2048 --test-limit 512";
      if (eta > 600 && !quick.empty()) std::fprintf(stderr, "  For a quick run try:%s\n", quick.c_str());
    }
    if (dist.size() > 1)
      std::fprintf(stderr,
                   "  %d processes (mpirun): each trains on %lld samples of every batch on its %s; BatchNorm "
                   "statistics %s; gradients summed in buckets of %g MiB\n",
                   dist.size(), static_cast<long long>(slice.count), device.is_cpu() ? "CPU" : "GPU",
                   cfg.sync_bn ? "over the whole batch (--sync-bn)" : "per process (--sync-bn: over the whole batch)",
                   cfg.bucket_mb);
  }
  std::fflush(stderr);

  bool tty = ::isatty(STDERR_FILENO);
  TrainHooks hooks;
  hooks.progress_seconds = tty ? 1.0 : 30.0;
  if (dist.root()) hooks.progress = [tty](const Progress& p) { print_progress(p, tty); };
  hooks.evaluated = [tty, &dist](const MetricsRow& r) {
    if (!dist.root()) return;
    if (tty) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr,
                 "epoch %.2f (step %lld): train loss %.4f top-1 %.2f%% | test loss %.4f top-1 %.2f%% top-5 %.2f%% "
                 "AUROC %.4f | %.0f img/s, %s\n",
                 r.epoch, static_cast<long long>(r.step), r.train.loss, r.train.top1, r.test.loss, r.test.top1,
                 r.test.top5, r.test.auroc, r.img_per_s, tools::duration(r.elapsed_s).c_str());
  };
  // Every rank stops after the same step: a signal may reach the ranks at different steps.
  hooks.stop_after = [&dist](int64_t) { return any_rank(dist.host(), g_interrupted.load()); };
  if (int64_t kill_at = faults.kill_at_step; kill_at > 0)  // fault injection: a crash at a known step
    hooks.after_step = [kill_at](int64_t step) {
      if (step == kill_at) std::raise(SIGKILL);
    };
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);

  TrainResult result;
  try {
    result = trainer.run(hooks);
  } catch (const Error& e) {
    rethrow_if_out_of_memory(e, net, cfg);
    throw;
  }
  if (!dist.root())
    return result.status == TrainStatus::Completed ? 0 : result.status == TrainStatus::Stopped ? 130 : 2;
  if (tty) std::fprintf(stderr, "\r\033[K");
  switch (result.status) {
    case TrainStatus::NonFinite:
      std::fprintf(stderr, "train: error: %s\n", result.message.c_str());
      return 2;
    case TrainStatus::Stopped:
      std::fprintf(stderr,
                   "train: interrupted at step %lld; the last checkpoint is at step %lld.\n"
                   "Continue with: %s./tools/train --resume %s\n",
                   static_cast<long long>(result.steps), static_cast<long long>(result.checkpoint_step),
                   dist.size() > 1 ? tools::fmt("mpirun -np %d ", dist.size()).c_str() : "", log->dir().c_str());
      return 130;
    case TrainStatus::Completed:
      break;
  }
  std::fprintf(stderr, "done: %lld steps; test top-1 %.2f%%, top-5 %.2f%%, AUROC %.4f. Files in %s (plot: ./tools/plot %s)\n",
               static_cast<long long>(result.steps), result.last.test.top1, result.last.test.top5,
               result.last.test.auroc, log->dir().c_str(), log->dir().c_str());
  if (dp) {
    const GradientSync& g = dp->gradient_sync();
    std::fprintf(stderr,
                 "gradient all-reduce (rank 0): %zu buckets, %lld started during the backward; %.1f ms per step "
                 "spent completing them after it\n",
                 g.buckets().size(), static_cast<long long>(g.started_during_backward()),
                 g.passes() > 0 ? 1e3 * g.wait_seconds() / static_cast<double>(g.passes()) : 0.0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::dist_main_guard("train", [&](DistRun& dist) { return run(dist, argc, argv); });
}
