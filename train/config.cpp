// Training settings: CLI11 command line, single-dash rewriting, config.json, resume merging.
#include "train/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <utility>

#include "core/error.h"
#include "core/settings.h"
#include "data/dataset.h"

namespace dybat {

namespace {

// The options whose long name is also the original script's single-dash spelling.
const char* const kSingleDash[] = {"delta", "lr", "zeta", "device", "data"};

// JSON key of an option's long name ("batch-size" -> "batch_size").
std::string key_of(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF): the text JSON can
// hold, and config.json holds every setting.
// "a, b, c"
std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2, cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3, cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
      return false;
    i += len;
  }
  return true;
}

// The method settings: ranges, and a value other than the default only for the method it belongs to.
void validate_select_settings(const TrainConfig& c) {
  const TrainConfig d;
  DYBAT_CHECK(std::isfinite(c.keep) && c.keep > 0.0 && c.keep <= 1.0, "--keep must be in (0, 1], got ", c.keep);
  DYBAT_CHECK(std::isfinite(c.keep_start) && std::isfinite(c.keep_end) && c.keep_start >= 0.0 &&
                  c.keep_start <= c.keep_end && c.keep_end <= 1.0,
              "--keep-start and --keep-end must satisfy 0 <= start <= end <= 1, got ", c.keep_start, " and ",
              c.keep_end);
  DYBAT_CHECK(std::isfinite(c.beta) && c.beta >= 0.0 && c.beta <= 64.0, "--beta must be in [0, 64], got ", c.beta);
  DYBAT_CHECK(c.window >= 1 && c.window <= (int64_t{1} << 20), "--window must be in [1, 1048576], got ", c.window);
  DYBAT_CHECK(std::isfinite(c.prune_ratio) && c.prune_ratio >= 0.0 && c.prune_ratio <= 0.9,
              "--prune-ratio must be in [0, 0.9] (InfoBatch keeps at least a tenth), got ", c.prune_ratio);
  DYBAT_CHECK(std::isfinite(c.anneal) && c.anneal >= 0.0 && c.anneal <= 1.0, "--anneal must be in [0, 1], got ",
              c.anneal);
  const std::pair<const char*, bool> changed[] = {
      {"keep", c.keep != d.keep},       {"keep-start", c.keep_start != d.keep_start},
      {"keep-end", c.keep_end != d.keep_end}, {"beta", c.beta != d.beta},
      {"window", c.window != d.window}, {"prune-ratio", c.prune_ratio != d.prune_ratio},
      {"anneal", c.anneal != d.anneal}, {"delta", c.delta != d.delta},
      {"zeta", c.zeta != d.zeta}};
  for (const auto& [flag, differs] : changed)
    DYBAT_CHECK(!differs || select_flag_applies(flag, c.select), "--", flag, " does not apply to --select ", c.select,
                std::string(flag) == "delta" || std::string(flag) == "zeta"
                    ? " (it selects samples, not batches, and trains every step on --delta 1's schedule)"
                    : " (it is a setting of another method)");
}

}  // namespace

std::vector<std::string> select_method_names() {
  return std::vector<std::string>(std::begin(kSelectMethods), std::end(kSelectMethods));
}

bool is_select_method(const std::string& name) {
  return std::find(std::begin(kSelectMethods), std::end(kSelectMethods), name) != std::end(kSelectMethods);
}

bool select_uses_delta(const std::string& method) { return method == "dybat" || method == "random"; }

bool select_flag_applies(const std::string& flag, const std::string& method) {
  for (const SelectFlag& f : kSelectFlags) {
    if (flag != f.flag) continue;
    const std::string list = std::string(",") + f.method + ",";
    return list.find("," + method + ",") != std::string::npos;
  }
  return true;
}

#define DYBAT_CONFIG_FIELDS(X)                                                                                  \
  X(net) X(delta) X(select) X(dataset) X(data) X(labels) X(order) X(permute) X(augment) X(cache_dir) X(crop) X(classes) X(epochs) X(batch_size) X(lr) X(momentum) X(weight_decay) \
  X(nesterov) X(lr_schedule) X(lr_step_epochs) X(lr_gamma) X(zeta) X(device) X(seed) X(out) X(resume) X(weights)  \
  X(train_limit) X(test_limit) X(eval_every) X(dtype) X(eval_bn) X(flush_seconds) X(tf32_conv) X(tf32_matmul)        \
  X(conv_algo) X(cuda_graph) X(precision) X(keep) X(keep_start) X(keep_end) X(beta) X(window) X(prune_ratio)      \
  X(anneal) X(sync_bn) X(bucket_mb)

nlohmann::json config_to_json(const TrainConfig& c) {
  nlohmann::json j;
#define X(f) j[#f] = c.f;
  DYBAT_CONFIG_FIELDS(X)
#undef X
  return j;
}

TrainConfig config_from_json(const nlohmann::json& j) {
  TrainConfig c;
  try {
#define X(f) \
  if (j.contains(#f)) j.at(#f).get_to(c.f);
    DYBAT_CONFIG_FIELDS(X)
#undef X
  } catch (const nlohmann::json::exception& e) {
    DYBAT_FAIL("config.json: a setting has the wrong type (", e.what(), ")");
  }
  return c;
}

std::vector<std::string> rewrite_single_dash(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    std::string r = a;
    for (const char* name : kSingleDash) {
      std::string single = std::string("-") + name;
      if (a == single || a.rfind(single + "=", 0) == 0) {
        r = "-" + a;
        break;
      }
    }
    out.push_back(r);
  }
  return out;
}

bool ParsedArgs::has(const std::string& name) const {
  return std::find(given.begin(), given.end(), name) != given.end();
}

ParsedArgs parse_train_args(const std::vector<std::string>& raw_args) {
  ParsedArgs p;
  TrainConfig& c = p.config;
  CLI::App app{"Trains a net with DyBAT (--delta < 1) or standard mini-batch training (--delta 1).", "train"};
  app.footer(
      "The original script's single-dash spellings -delta, -lr, -zeta, -device, -data are accepted.\n"
      "Examples:\n"
      "  train --net resnet18 --delta 0.5\n"
      "  train --net resnet18 --delta 1 --dataset cifar10 --data ./data --crop 32 --batch-size 64\n"
      "  train --resume logs/resnet18-cifar10-d0.5-20260101-120000 --epochs 150");
  app.add_option("--net,-a", c.net, "net: resnet18, resnet50, efficientnet_b4, efficientnetv2_s, mobilenetv3_small_100");
  app.add_option("--delta", c.delta, "fraction of batches per selection pass, in (0, 1]; 1 = standard training")
      ->capture_default_str();
  app.add_option("--select", c.select, "selection method: " + join_names(select_method_names()))
      ->check(CLI::IsMember(select_method_names()))
      ->capture_default_str();
  app.add_option("--dataset,-d", c.dataset, "cifar10, cifar100, stl10, folder or synthetic (default: first found)");
  app.add_option("--data", c.data, "dataset root folder")->capture_default_str();
  app.add_option("--labels", c.labels, "CIFAR-100 labels: fine or coarse")
      ->check(CLI::IsMember({"fine", "coarse"}))
      ->capture_default_str();
  app.add_option("--order", c.order, "image folders: shuffled (a fixed seeded order) or file (torchvision's)")
      ->check(CLI::IsMember({"shuffled", "file"}))
      ->capture_default_str();
  app.add_flag("--permute", c.permute, "put both splits into one order seeded by --seed, once, at load");
  app.add_option("--augment", c.augment, "training augmentation: none, crop, flip or crop,flip (off in the paper)")
      ->capture_default_str();
  app.add_option("--cache-dir", c.cache_dir, "cache for decoded image folders (default: next to the data, else ~/.cache/dybat)");
  app.add_option("--crop,-c", c.crop, "images are resized to crop x crop")->capture_default_str();
  app.add_option("--classes,-n", c.classes, "number of classes of the net (default: the dataset's)");
  app.add_option("--epochs,-e", c.epochs, "epochs (the step budget is epochs * batches)")->capture_default_str();
  app.add_option("--batch-size,-b", c.batch_size, "mini-batch size")->capture_default_str();
  app.add_option("--lr", c.lr, "learning rate")->capture_default_str();
  app.add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay, "SGD weight decay")->capture_default_str();
  app.add_flag("--nesterov", c.nesterov, "Nesterov momentum");
  app.add_option("--lr-schedule", c.lr_schedule, "constant, cosine or step")
      ->check(CLI::IsMember({"constant", "cosine", "step"}))
      ->capture_default_str();
  app.add_option("--lr-step-epochs", c.lr_step_epochs, "step schedule: epochs between decays")->capture_default_str();
  app.add_option("--lr-gamma", c.lr_gamma, "step schedule: decay factor")->capture_default_str();
  app.add_option("--zeta", c.zeta, "upper bound on selection passes (default 50 * int((epochs - 1) / delta))");
  app.add_option("--device", c.device, "cpu, cuda, cuda:N or N (default: cuda if present, else cpu)");
  app.add_option("--seed", c.seed, "random seed")->capture_default_str();
  app.add_option("--out", c.out, "run folder (default logs/<net>-<dataset>-d<delta>-<time>)");
  app.add_option("--resume", c.resume, "continue the run in this folder from its last checkpoint");
  app.add_option("--weights", c.weights, "start from this safetensors model (timm names)");
  app.add_option("--train-limit", c.train_limit, "use only the first N training samples");
  app.add_option("--test-limit", c.test_limit, "use only the first N test samples");
  app.add_option("--eval-every", c.eval_every, "steps between evaluations (default: batches per epoch)");
  app.add_option("--dtype", c.dtype, "float32, or float64 (CPU reference)")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  app.add_option("--eval-bn", c.eval_bn, "BatchNorm in evaluation: batch (statistics, as the original) or running")
      ->check(CLI::IsMember({"batch", "running"}))
      ->capture_default_str();
  app.add_option("--flush-seconds", c.flush_seconds, "refresh the shown loss this often (0: only at evaluations)")
      ->capture_default_str();
  app.add_option("--tf32-conv", c.tf32_conv, "TF32 tensor cores in GPU convolutions (PyTorch's default: on)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--tf32-matmul", c.tf32_matmul, "TF32 tensor cores in GPU matrix products (PyTorch's default: off)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--conv-algo", c.conv_algo,
                 "cuDNN algorithm choice: heuristic (no timing, the same on every run) or measure (timed once per "
                 "shape; recorded in the checkpoint)")
      ->check(CLI::IsMember({"heuristic", "measure"}))
      ->capture_default_str();
  app.add_option("--precision", c.precision,
                 "fp32, or bf16: mixed precision on CUDA (bf16 convolutions and matrix products with float32 "
                 "accumulation; float32 master weights, BatchNorm and loss)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--cuda-graph", c.cuda_graph,
                 "on a CUDA device, capture the training step and the evaluation batch in CUDA graphs and replay "
                 "them (ignored on the CPU)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--keep", c.keep, "sample-topk: the fraction of each batch kept (highest losses), in (0, 1]")
      ->capture_default_str();
  app.add_option("--keep-start", c.keep_start, "sample-topk: applies from this fraction of the steps")
      ->capture_default_str();
  app.add_option("--keep-end", c.keep_end, "sample-topk: applies until this fraction of the steps")
      ->capture_default_str();
  app.add_option("--beta", c.beta, "selective-backprop: keep a sample with probability CDF(loss)^beta")
      ->capture_default_str();
  app.add_option("--window", c.window, "selective-backprop: the recent losses the CDF is taken over")
      ->capture_default_str();
  app.add_option("--prune-ratio", c.prune_ratio, "infobatch: the fraction r of the low-score samples pruned, in [0, 0.9]")
      ->capture_default_str();
  app.add_option("--anneal", c.anneal, "infobatch: the last fraction of the steps trains on the full data")
      ->capture_default_str();

  app.add_flag("--sync-bn", c.sync_bn,
               "under mpirun: BatchNorm statistics over the whole batch of every process (forward and backward); "
               "default: each process's own slice, as PyTorch DDP");
  app.add_option("--bucket-mb", c.bucket_mb,
                 "under mpirun: gradients are summed over the processes in buckets of this many MiB, each started "
                 "as soon as its gradients are ready; 0: one bucket after the backward")
      ->capture_default_str();

  std::vector<std::string> args = rewrite_single_dash(raw_args);
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    throw CliExit{0, app.help()};
  } catch (const CLI::ParseError& e) {
    throw CliExit{2, std::string(e.what()) + "\nRun with --help for the options."};
  }
  for (const CLI::Option* o : app.get_options())
    if (o->count() > 0 && !o->get_lnames().empty()) p.given.push_back(o->get_lnames().front());
  return p;
}

TrainConfig overlay_config(const TrainConfig& base, const TrainConfig& cli, const std::vector<std::string>& given) {
  nlohmann::json b = config_to_json(base), g = config_to_json(cli);
  for (const std::string& name : given)
    if (std::string key = key_of(name); b.contains(key)) b[key] = g[key];
  return config_from_json(b);
}

TrainConfig merge_resume_config(const TrainConfig& saved, const ParsedArgs& cli) {
  TrainConfig c = saved;
  c.resume = cli.config.resume;
  nlohmann::json s = config_to_json(saved), g = config_to_json(cli.config);
  for (const std::string& name : cli.given) {
    if (name == "resume") continue;
    std::string key = key_of(name);
    if (name == "epochs") {
      DYBAT_CHECK(cli.config.epochs >= saved.epochs, "--resume: --epochs may only be raised (the run has ",
                  saved.epochs, ", given ", cli.config.epochs, ")");
      c.epochs = cli.config.epochs;
      continue;
    }
    if (name == "flush-seconds") {  // display only: does not change the run
      c.flush_seconds = cli.config.flush_seconds;
      continue;
    }
    if (name == "cuda-graph") {  // how steps are launched: the same kernels, the same results
      c.cuda_graph = cli.config.cuda_graph;
      continue;
    }
    DYBAT_CHECK(!s.contains(key) || s[key] == g[key], "--resume: --", name, " ", g[key].dump(),
                " differs from the run's setting ", s[key].dump(),
                " (a resumed run takes every setting from its config.json; only --epochs may be raised)");
  }
  return c;
}

void validate_config(const TrainConfig& c) {
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{"--net", &c.net},
                                    {"--dataset", &c.dataset}, {"--data", &c.data}, {"--device", &c.device},
                                    {"--out", &c.out}, {"--resume", &c.resume}, {"--weights", &c.weights},
                                    {"--cache-dir", &c.cache_dir}})
    DYBAT_CHECK(valid_utf8(*value), flag, ": '", *value, "' is not valid UTF-8 text, which config.json cannot ",
                "record; rename the file or folder");
  DYBAT_CHECK(!c.net.empty(), "no net given: use --net NAME (e.g. --net resnet18)");
  DYBAT_CHECK(std::isfinite(c.delta) && c.delta > 0.0 && c.delta <= 1.0, "--delta must be in (0, 1], got ", c.delta);
  DYBAT_CHECK(is_select_method(c.select), "--select must be one of ", join_names(select_method_names()), ", got '",
              c.select, "'");
  DYBAT_CHECK(c.labels == "fine" || c.labels == "coarse", "--labels must be fine or coarse, got '", c.labels, "'");
  DYBAT_CHECK(c.order == "shuffled" || c.order == "file", "--order must be shuffled or file, got '", c.order, "'");
  parse_augment(c.augment);  // throws with the accepted forms
  DYBAT_CHECK(c.crop >= 8 && c.crop <= 1024, "--crop must be in [8, 1024], got ", c.crop);
  DYBAT_CHECK(c.classes >= 0, "--classes must be positive, got ", c.classes);
  DYBAT_CHECK(c.epochs >= 1, "--epochs must be at least 1, got ", c.epochs);
  DYBAT_CHECK(c.batch_size >= 1, "--batch-size must be at least 1, got ", c.batch_size);
  DYBAT_CHECK(std::isfinite(c.lr) && c.lr > 0.0, "--lr must be positive, got ", c.lr);
  DYBAT_CHECK(std::isfinite(c.momentum) && c.momentum >= 0.0 && c.momentum < 1.0, "--momentum must be in [0, 1), got ",
              c.momentum);
  DYBAT_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0.0, "--weight-decay must be >= 0, got ",
              c.weight_decay);
  DYBAT_CHECK(c.lr_schedule == "constant" || c.lr_schedule == "cosine" || c.lr_schedule == "step",
              "--lr-schedule must be constant, cosine or step, got '", c.lr_schedule, "'");
  DYBAT_CHECK(std::isfinite(c.lr_step_epochs) && std::isfinite(c.lr_gamma) && c.lr_step_epochs > 0 && c.lr_gamma > 0,
              "--lr-step-epochs and --lr-gamma must be positive and finite, got ", c.lr_step_epochs, " and ",
              c.lr_gamma);
  DYBAT_CHECK(c.zeta >= -1, "--zeta must be >= 0, got ", c.zeta);
  DYBAT_CHECK(c.train_limit >= 0 && c.test_limit >= 0, "--train-limit/--test-limit must be >= 0");
  DYBAT_CHECK(c.eval_every >= 0, "--eval-every must be >= 0, got ", c.eval_every);
  DYBAT_CHECK(c.dtype == "float32" || c.dtype == "float64", "--dtype must be float32 or float64, got '", c.dtype, "'");
  DYBAT_CHECK(c.eval_bn == "batch" || c.eval_bn == "running", "--eval-bn must be batch or running, got '", c.eval_bn,
              "'");
  DYBAT_CHECK(std::isfinite(c.flush_seconds) && c.flush_seconds >= 0, "--flush-seconds must be >= 0 and finite, got ",
              c.flush_seconds);
  for (auto [name, v] : {std::pair{"--tf32-conv", &c.tf32_conv}, std::pair{"--tf32-matmul", &c.tf32_matmul},
                         std::pair{"--cuda-graph", &c.cuda_graph}})
    DYBAT_CHECK(*v == "on" || *v == "off", name, " must be on or off, got '", *v, "'");
  DYBAT_CHECK(c.conv_algo == "heuristic" || c.conv_algo == "measure", "--conv-algo must be heuristic or measure, got '",
              c.conv_algo, "'");
  DYBAT_CHECK(c.precision == "fp32" || c.precision == "bf16", "--precision must be fp32 or bf16, got '", c.precision,
              "'");
  DYBAT_CHECK(std::isfinite(c.bucket_mb) && c.bucket_mb >= 0 && c.bucket_mb <= 4096,
              "--bucket-mb must be in [0, 4096], got ", c.bucket_mb);
  DYBAT_CHECK(!(c.precision == "bf16" && c.dtype != "float32"), "--precision bf16 keeps float32 master weights; use "
              "it with --dtype float32");
  validate_select_settings(c);
}

void apply_backend_config(const TrainConfig& c) {
  BackendSettings& b = backend_settings();
  b.tf32_conv = c.tf32_conv == "on";
  b.tf32_matmul = c.tf32_matmul == "on";
  b.conv_algo = conv_algo_search_from_name(c.conv_algo.c_str());
}

}  // namespace dybat
