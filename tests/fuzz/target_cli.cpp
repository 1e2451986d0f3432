// Fuzz target "cli": the train program's command line. The input is split on NUL and newline
// into arguments (single-dash spellings such as -delta=0.5 included); a command line that parses
// and validates must also survive what a run does with it: config.json written and read back
// unchanged, and a resume with the same options accepted.
#include "fuzz/targets.h"
#include "train/config.h"

namespace dybat::fuzz {

namespace {

std::vector<std::string> split_args(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\0' || data[i] == '\n') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  if (!cur.empty()) args.push_back(cur);
  return args;
}

Bytes line(const std::vector<std::string>& args) {
  Bytes out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) out.push_back('\n');
    out.insert(out.end(), args[i].begin(), args[i].end());
  }
  return out;
}

}  // namespace

bool run_cli(const uint8_t* data, size_t size) {
  const std::vector<std::string> args = split_args(data, size);
  const std::vector<std::string> rewritten = rewrite_single_dash(args);
  DYBAT_FUZZ_CHECK(rewritten.size() == args.size(), "rewriting keeps the argument count");
  DYBAT_FUZZ_CHECK(rewrite_single_dash(rewritten) == rewritten, "rewriting twice changes nothing more");
  ParsedArgs p;
  try {
    p = parse_train_args(args);
  } catch (const CliExit& e) {
    DYBAT_FUZZ_CHECK(e.code == 0 || e.code == 2, "exit code ", e.code);
    DYBAT_FUZZ_CHECK(!e.text.empty(), "a CLI exit says why");
    return false;
  }
  try {
    validate_config(p.config);
  } catch (const Error&) {
    return false;
  }
  // config.json: what a valid command line sets is written as JSON text and read back unchanged.
  const nlohmann::json j = config_to_json(p.config);
  const std::string text = j.dump(2);
  const TrainConfig back = config_from_json(nlohmann::json::parse(text));
  DYBAT_FUZZ_CHECK(config_to_json(back) == j, "config.json round trip: ", text);
  // Resuming with the very same options is accepted and changes nothing.
  const TrainConfig merged = merge_resume_config(back, p);
  nlohmann::json jm = config_to_json(merged);
  jm["resume"] = j["resume"];
  DYBAT_FUZZ_CHECK(jm == j, "resume with the same options");
  return true;
}

std::vector<Bytes> seeds_cli() {
  return {
      line({"--net", "resnet18", "--delta", "0.5"}),
      line({"--net", "resnet18", "-delta=0.25", "-lr", "0.01", "-zeta", "3", "-device", "cpu", "-data", "./data"}),
      line({"-a", "mobilenetv3_small_100", "-d", "synthetic", "-c", "32", "-b", "16", "-e", "2", "--train-limit",
            "128", "--test-limit", "32", "--out", "runs/x", "--seed", "7"}),
      line({"--net=efficientnet_b4", "--lr-schedule", "step", "--lr-step-epochs", "30", "--lr-gamma", "0.1",
            "--momentum", "0.9", "--weight-decay", "5e-4", "--nesterov", "--dtype", "float64", "--eval-bn",
            "running", "--flush-seconds", "0", "--eval-every", "10", "--classes", "10"}),
      line({"--resume", "logs/run", "--epochs", "150"}),
      line({"--weights", "model.safetensors", "--net", "resnet50", "--crop", "128"}),
      line({"--help"}),
      line({"--net", "resnet18", "--delta", "1.5", "--bogus"}),
  };
}

}  // namespace dybat::fuzz
