// Every setting of a training run, its command line (CLI11) and its config.json form.
//
// The command line accepts the original script's single-dash spellings (-delta, -lr, -zeta,
// -device, -data, also as -delta=0.5): rewrite_single_dash turns exactly those tokens into their
// -- form first, because CLI11 reads "-delta=0.5" as the short flag -d with the value "elta=0.5".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dybat {

inline constexpr const char* kDybatVersion = "0.1.0";

// The selection methods by name (--select): what decides which batches or samples a step trains
// on. The first is the default. train and tools/sweep both validate names against this list
// (train/select_method.h says what each one selects).
inline constexpr const char* kSelectMethods[] = {"dybat", "random", "sample-topk", "selective-backprop",
                                                 "infobatch"};
std::vector<std::string> select_method_names();
bool is_select_method(const std::string& name);
// True for the methods that choose whole batches by --delta (dybat, random); the others choose
// samples and train with delta 1.
bool select_uses_delta(const std::string& method);
// The settings that belong to one method (long option names): each applies to that method only.
struct SelectFlag {
  const char* flag;
  const char* method;
};
inline constexpr SelectFlag kSelectFlags[] = {{"keep", "sample-topk"},        {"keep-start", "sample-topk"},
                                              {"keep-end", "sample-topk"},    {"beta", "selective-backprop"},
                                              {"window", "selective-backprop"}, {"prune-ratio", "infobatch"},
                                              {"anneal", "infobatch"},        {"delta", "dybat,random"},
                                              {"zeta", "dybat,random"}};
// True when option `flag` (long name, no dashes) means something to `method`: every option that
// is not in kSelectFlags applies to all methods.
bool select_flag_applies(const std::string& flag, const std::string& method);

struct TrainConfig {
  std::string net;                 // a registry name (canonicalised when the net is built)
  double delta = 1.0;              // 1 = standard training, < 1 = DyBAT
  std::string select = "dybat";    // selection method, one of kSelectMethods
  std::string dataset;             // cifar10, cifar100, stl10, folder, synthetic; "" = first found
  std::string data = "./data";
  std::string labels = "fine";     // CIFAR-100: fine or coarse labels
  std::string order = "shuffled";  // image folders: a fixed seeded order, or "file" (torchvision's)
  bool permute = false;            // one permutation of both splits at load, seeded by seed
  std::string augment = "none";    // none, or a comma list of crop and flip (training batches only)
  std::string cache_dir;           // where decoded image folders are cached when the data folder is read-only
  int crop = 128;
  int classes = 0;                 // 0 = the dataset's
  int64_t epochs = 100;
  int64_t batch_size = 512;
  double lr = 0.005;
  double momentum = 0.9;
  double weight_decay = 0.0;
  bool nesterov = false;
  std::string lr_schedule = "constant";  // constant, cosine (to 0 over the run), step
  double lr_step_epochs = 30;      // step schedule: multiply by lr_gamma every this many epochs
  double lr_gamma = 0.1;
  int64_t zeta = -1;               // bound on selection passes; -1 = 50 * int((E - 1) / delta)
  std::string device;              // cpu, cuda, cuda:N or N; "" = cuda if present, else cpu
  uint64_t seed = 0;
  std::string out;                 // run folder; "" = logs/<net>-<dataset>-d<delta>-<time>/
  std::string resume;              // run folder to continue
  std::string weights;             // safetensors model to start from
  int64_t train_limit = 0;         // use only the first N samples of a split (0 = all)
  int64_t test_limit = 0;
  int64_t eval_every = 0;          // steps between evaluations; 0 = b (one epoch-equivalent)
  std::string dtype = "float32";   // float32, or float64 (CPU reference runs)
  std::string eval_bn = "batch";   // batch: batch statistics as the original; running: eval mode
  double flush_seconds = 30;       // also flush the trace (and the shown loss) this often; 0 = only at evaluations
  // GPU math, as PyTorch's defaults: TF32 tensor cores in convolutions on, in matrix products off.
  std::string tf32_conv = "on";    // on, off
  std::string tf32_matmul = "off";  // on, off
  std::string conv_algo = "heuristic";  // cuDNN algorithm choice: heuristic or measure (core/settings.h)
  std::string cuda_graph = "on";   // on: a CUDA device runs each step as one captured graph (CPU: ignored)
  std::string precision = "fp32";  // fp32, or bf16: mixed precision on CUDA (layers/precision.h)
  // Selection-method settings (train/select_method.h), each for one method (kSelectFlags).
  double keep = 0.5;               // sample-topk: the fraction of each batch that trains
  double keep_start = 0.0;         // sample-topk: it applies to steps in [start, end) * total steps
  double keep_end = 1.0;
  double beta = 1.0;               // selective-backprop: keep with probability CDF(loss)^beta
  int64_t window = 1024;           // selective-backprop: the recent losses the CDF is taken over
  double prune_ratio = 0.5;        // infobatch: r, the fraction of the low-score samples pruned
  double anneal = 0.125;           // infobatch: the last fraction of the steps trains on all data
  // Data-parallel runs (mpirun; train/data_parallel.h); a one-process run ignores both.
  bool sync_bn = false;            // BatchNorm statistics over the whole batch of every rank
  double bucket_mb = 25;           // gradient all-reduce bucket size in MiB (0: one bucket after the backward)
};

nlohmann::json config_to_json(const TrainConfig& c);
// Reads the settings of a config.json (unknown keys are ignored, missing ones keep defaults).
TrainConfig config_from_json(const nlohmann::json& j);

// Replaces -delta, -lr, -zeta, -device, -data (and their -name=value forms) by the -- spelling.
std::vector<std::string> rewrite_single_dash(const std::vector<std::string>& args);

struct ParsedArgs {
  TrainConfig config;
  std::vector<std::string> given;  // long names of the options set on the command line ("delta", ...)
  bool has(const std::string& name) const;
};

// Thrown for --help (code 0, the help text) and for bad command lines (code 2, the message).
struct CliExit {
  int code;
  std::string text;
};

// Parses the arguments after the program name (single-dash spellings rewritten first).
ParsedArgs parse_train_args(const std::vector<std::string>& args);

// For --resume: the settings of `saved` with the command line applied; only --epochs may change
// (and only upwards). Any other option given with a value that differs throws dybat::Error.
TrainConfig merge_resume_config(const TrainConfig& saved, const ParsedArgs& cli);

// `base` with the settings named in `given` (long option names, as ParsedArgs::given) taken from
// `cli`: a command line on top of a run's config.json (tools/eval --run).
TrainConfig overlay_config(const TrainConfig& base, const TrainConfig& cli, const std::vector<std::string>& given);

// Checks ranges that do not need the data (delta, sizes, names); throws dybat::Error.
void validate_config(const TrainConfig& c);

// Sets the process-wide backend settings (core/settings.h) from the run's GPU math options.
void apply_backend_config(const TrainConfig& c);

}  // namespace dybat
