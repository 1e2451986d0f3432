// eval: evaluates a saved model on a dataset split and prints loss, top-1, top-5 and weighted
// AUROC (the training run's metrics, docs/data-and-metrics.md section 3).
//
//   eval --weights model.safetensors --net resnet18 --dataset cifar10 --crop 32
//   eval --run logs/resnet18-cifar10-d0.5-20260101-120000          (settings from its config.json)
//
// Under `mpirun -np N` each process evaluates its slice of every batch and the metrics are those of
// the whole batches (gathered from every rank); rank 0 prints.
//
// Exit codes: 0 done, 2 bad input.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/settings.h"
#include "layers/precision.h"
#include "nets/registry.h"
#include "tools/lib/dist_main.h"
#include "tools/tool_common.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/run_log.h"
#include "train/setup.h"
#include "train/trainer.h"

using namespace dybat;

namespace {

int run(DistRun& dist, int argc, char** argv) {
  TrainConfig c;
  c.net = "";
  std::string weights, run_dir, split = "test";
  bool json = false;
  CLI::App app{"Evaluates a model on a dataset split: loss, top-1, top-5, weighted AUROC.", "eval"};
  app.add_option("--weights", weights, "safetensors model (timm names)");
  app.add_option("--run", run_dir, "a run folder: its config.json settings and model.safetensors");
  app.add_option("--net,-a", c.net, "net name");
  app.add_option("--dataset,-d", c.dataset, "cifar10, cifar100, stl10, folder or synthetic (default: first found)");
  app.add_option("--data", c.data, "dataset root folder");
  app.add_option("--labels", c.labels, "CIFAR-100 labels: fine or coarse")->check(CLI::IsMember({"fine", "coarse"}));
  app.add_option("--order", c.order, "image folders: shuffled (a fixed seeded order) or file (torchvision's)")
      ->check(CLI::IsMember({"shuffled", "file"}));
  app.add_flag("--permute", c.permute, "put both splits into one order seeded by --seed, as the run did");
  app.add_option("--cache-dir", c.cache_dir, "cache for decoded image folders");
  app.add_option("--crop,-c", c.crop, "images are resized to crop x crop");
  app.add_option("--classes,-n", c.classes, "classes of the net (default: the dataset's)");
  app.add_option("--batch-size,-b", c.batch_size, "batch size (metrics are means over batches)");
  app.add_option("--device", c.device, "cpu, cuda, cuda:N or N");
  app.add_option("--dtype", c.dtype, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}));
  app.add_option("--eval-bn", c.eval_bn, "batch (statistics, as the original) or running")
      ->check(CLI::IsMember({"batch", "running"}));
  app.add_option("--split", split, "test, train or both")->check(CLI::IsMember({"test", "train", "both"}));
  app.add_option("--train-limit", c.train_limit, "use only the first N training samples");
  app.add_option("--test-limit", c.test_limit, "use only the first N test samples");
  app.add_option("--seed", c.seed, "seed (the synthetic set)");
  app.add_option("--tf32-conv", c.tf32_conv, "TF32 tensor cores in GPU convolutions (default on, as PyTorch)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--tf32-matmul", c.tf32_matmul, "TF32 tensor cores in GPU matrix products (default off, as PyTorch)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--precision", c.precision, "fp32, or bf16 (mixed precision, CUDA only)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_flag("--sync-bn", c.sync_bn,
               "under mpirun: BatchNorm batch statistics over the whole batch of every process");
  app.add_flag("--json", json, "print one JSON object instead of text");
  const std::vector<std::string> raw_args(argv + 1, argv + argc);
  dist.check_same_arguments(raw_args);
  tools::parse_command_line(app, rewrite_single_dash(raw_args));

  if (!run_dir.empty()) {
    // The run's settings (its data order, labels and split included), then whatever was given on
    // this command line on top.
    std::vector<std::string> given;
    for (const CLI::Option* o : app.get_options())
      if (o->count() > 0 && !o->get_lnames().empty()) given.push_back(o->get_lnames().front());
    const std::string device = c.device;  // where to evaluate is this machine's choice, not the run's
    c = overlay_config(config_from_json(RunLog(run_dir).read_config()), c, given);
    c.device = device;
    if (weights.empty()) weights = (std::filesystem::path(run_dir) / "model.safetensors").string();
  }
  DYBAT_CHECK(!weights.empty(), "no model given: use --weights FILE or --run DIR");
  DYBAT_CHECK(!c.net.empty(), "no net given: use --net NAME (or --run DIR)");
  std::string net = canonical_net_name(c.net);
  DYBAT_CHECK(!net.empty(), "unknown net '", c.net, "'; choose one of: ", tools::join(net_names()));
  Device device = dist.device(c.device);
  DType dtype = dtype_from_name(c.dtype);
  DYBAT_CHECK(!(device.is_cuda() && dtype == DType::Float64), "--dtype float64 is for the CPU");
  const DType compute = precision_from_name(c.precision);
  DYBAT_CHECK(compute != DType::BFloat16 || device.is_cuda(), "--precision bf16 (mixed precision) runs on CUDA only; ",
              "on ", device.str(), " use --precision fp32");
  DYBAT_CHECK(c.batch_size >= 1, "--batch-size must be at least 1");
  dist.check_same_settings(config_to_json(c));
  dist.check_batch(c.batch_size, "--batch-size");
  backend_settings().deterministic = true;
  apply_backend_config(c);

  Dataset ds = dist.load_dataset(c, device, c.batch_size);  // this rank's slices of the batches
  int classes = resolve_classes(c, ds);
  Generator g(c.seed);
  std::shared_ptr<Module> model = create_net(net, classes, g);
  load_model_file(*model, weights);
  model->to(dtype);
  model->to(device);
  set_compute_dtype(*model, compute);
  const Communicator* comm = dist.size() > 1 ? &dist.communicator(device) : nullptr;
  if (comm && c.sync_bn) use_sync_batch_norm(*model, comm);
  const RankSlice slice = rank_slice(c.batch_size, dist.rank(), dist.size());
  Mode mode = c.eval_bn == "running" ? Mode::Eval : Mode::EvalBatchStats;

  nlohmann::json out = {{"net", net},           {"dataset", ds.name},         {"weights", weights},
                        {"batch_size", c.batch_size}, {"eval_bn", c.eval_bn},        {"tf32_conv", c.tf32_conv},
                        {"tf32_matmul", c.tf32_matmul}};
  for (const char* name : {"train", "test"}) {
    if (split != "both" && split != name) continue;
    const Split& s = std::string(name) == "train" ? ds.train : ds.test;
    DYBAT_CHECK(s.size() >= slice.count, "--batch-size ", c.batch_size, " is larger than the ", name, " split (",
                s.size(), " samples)");
    LoaderBatches src(s, slice.count, c.crop);
    SplitMetrics m;
    try {
      m = evaluate(*model, src, mode, dtype, comm);
    } catch (const Error& e) {
      if (!tools::is_out_of_memory(e)) throw;
      DYBAT_FAIL(net, " with --batch-size ", c.batch_size, " at --crop ", c.crop, " does not fit in GPU memory (",
                 e.message(), "); try --batch-size ", std::max<int64_t>(1, c.batch_size / 2),
                 c.crop > 32 ? " or a smaller --crop" : "");
    }
    out[name] = {{"loss", m.loss}, {"top1", m.top1}, {"top5", m.top5}, {"auroc", m.auroc}, {"batches", m.batches}};
    if (!json && dist.root())
      std::printf("%s: loss %.4f  top-1 %.2f%%  top-5 %.2f%%  AUROC %.4f  (%lld batches of %lld, %s, BN %s)\n", name,
                  m.loss, m.top1, m.top5, m.auroc, static_cast<long long>(m.batches),
                  static_cast<long long>(c.batch_size), ds.name.c_str(),
                  c.eval_bn == "batch" ? "batch statistics" : "running statistics");
  }
  // A path that is not UTF-8 is shown with replacement characters instead of failing the dump.
  if (json && dist.root())
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::dist_main_guard("eval", [&](DistRun& dist) { return run(dist, argc, argv); });
}
