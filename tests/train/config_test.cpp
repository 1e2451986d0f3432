// Training settings: the command line (with the original script's single-dash spellings),
// config.json round trips, resume merging and range checks.
#include "train/config.h"

#include "core/error.h"
#include "core/settings.h"
#include "support/test_util.h"

using namespace dybat;

namespace {
ParsedArgs parse(std::vector<std::string> a) { return parse_train_args(a); }
}  // namespace

TEST(TrainCli, DefaultsAsThePaper) {
  ParsedArgs p = parse({"--net", "resnet18"});
  const TrainConfig& c = p.config;
  EXPECT_EQ(c.net, "resnet18");
  EXPECT_EQ(c.delta, 1.0);
  EXPECT_EQ(c.crop, 128);
  EXPECT_EQ(c.batch_size, 512);
  EXPECT_EQ(c.lr, 0.005);
  EXPECT_EQ(c.momentum, 0.9);
  EXPECT_EQ(c.epochs, 100);
  EXPECT_EQ(c.zeta, -1);
  EXPECT_EQ(c.data, "./data");
  EXPECT_EQ(c.dataset, "");
  EXPECT_EQ(c.device, "");
  EXPECT_EQ(c.seed, 0u);
  EXPECT_EQ(c.dtype, "float32");
  EXPECT_EQ(c.eval_bn, "batch");
  EXPECT_EQ(c.tf32_conv, "on");  // PyTorch's defaults
  EXPECT_EQ(c.tf32_matmul, "off");
  EXPECT_EQ(c.conv_algo, "heuristic");
  EXPECT_EQ(p.given, (std::vector<std::string>{"net"}));
}

TEST(TrainCli, ShortAndLongNames) {
  ParsedArgs p = parse({"-a", "resnet50", "-d", "cifar10", "-c", "32", "-n", "10", "-e", "3", "-b", "64"});
  EXPECT_EQ(p.config.net, "resnet50");
  EXPECT_EQ(p.config.dataset, "cifar10");
  EXPECT_EQ(p.config.crop, 32);
  EXPECT_EQ(p.config.classes, 10);
  EXPECT_EQ(p.config.epochs, 3);
  EXPECT_EQ(p.config.batch_size, 64);
  EXPECT_TRUE(p.has("batch-size"));
  EXPECT_FALSE(p.has("lr"));
}

TEST(TrainCli, SingleDashSpellingsOfTheOriginal) {
  EXPECT_EQ(rewrite_single_dash({"-delta", "0.5", "-lr=0.1", "-d", "x", "-data", "/d", "--delta", "-deltax", "-dx"}),
            (std::vector<std::string>{"--delta", "0.5", "--lr=0.1", "-d", "x", "--data", "/d", "--delta", "-deltax",
                                      "-dx"}));
  ParsedArgs p = parse({"--net", "resnet18", "-delta", "0.25", "-lr", "0.001", "-zeta", "7", "-device", "cpu", "-data",
                        "/tmp/d"});
  EXPECT_EQ(p.config.delta, 0.25);
  EXPECT_EQ(p.config.lr, 0.001);
  EXPECT_EQ(p.config.zeta, 7);
  EXPECT_EQ(p.config.device, "cpu");
  EXPECT_EQ(p.config.data, "/tmp/d");
  EXPECT_EQ(p.config.dataset, "");  // "-data" is not "-d ata"
  ParsedArgs q = parse({"--net", "resnet18", "-delta=0.5", "-device=1"});
  EXPECT_EQ(q.config.delta, 0.5);
  EXPECT_EQ(q.config.device, "1");
  EXPECT_EQ(q.config.dataset, "");  // "-delta=0.5" is not "-d elta=0.5"
}

TEST(TrainCli, HelpAndErrors) {
  try {
    parse({"--help"});
    FAIL() << "no CliExit";
  } catch (const CliExit& e) {
    EXPECT_EQ(e.code, 0);
    EXPECT_NE(e.text.find("--delta"), std::string::npos);
    EXPECT_NE(e.text.find("-delta"), std::string::npos);
  }
  for (std::vector<std::string> bad :
       {std::vector<std::string>{"--net"}, {"--delta", "abc"}, {"--bogus"}, {"--dtype", "float16"}, {"--eval-bn", "x"},
        {"--tf32-conv", "yes"}, {"--tf32-matmul", "1"}, {"--conv-algo", "fastest"}}) {
    try {
      parse(bad);
      FAIL() << "accepted " << bad[0];
    } catch (const CliExit& e) {
      EXPECT_EQ(e.code, 2);
    }
  }
}

TEST(TrainConfig, JsonRoundTrip) {
  TrainConfig c = parse({"--net", "resnet18", "--delta", "0.3", "--seed", "17", "--nesterov", "--zeta", "4"}).config;
  c.out = "logs/x";
  nlohmann::json j = config_to_json(c);
  EXPECT_EQ(j["batch_size"], 512);
  EXPECT_EQ(j["delta"], 0.3);
  TrainConfig r = config_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(config_to_json(r), j);
  EXPECT_THROW(config_from_json(nlohmann::json{{"delta", "half"}}), Error);
}

TEST(TrainConfig, GpuMathOptions) {
  ParsedArgs p = parse({"--net", "resnet18", "--tf32-conv", "off", "--tf32-matmul", "on", "--conv-algo", "measure"});
  EXPECT_EQ(p.config.tf32_conv, "off");
  EXPECT_EQ(p.config.tf32_matmul, "on");
  EXPECT_EQ(p.config.conv_algo, "measure");
  nlohmann::json j = config_to_json(p.config);  // recorded in config.json
  EXPECT_EQ(j["tf32_conv"], "off");
  EXPECT_EQ(j["tf32_matmul"], "on");
  EXPECT_EQ(j["conv_algo"], "measure");
  // A config.json from before these options keeps PyTorch's defaults, which were the only behaviour.
  TrainConfig old = config_from_json(nlohmann::json{{"net", "resnet18"}});
  EXPECT_EQ(old.tf32_conv, "on");
  EXPECT_EQ(old.tf32_matmul, "off");

  BackendSettings saved = backend_settings();
  apply_backend_config(p.config);
  EXPECT_FALSE(backend_settings().tf32_conv);
  EXPECT_TRUE(backend_settings().tf32_matmul);
  EXPECT_EQ(backend_settings().conv_algo, ConvAlgoSearch::Measure);
  apply_backend_config(parse({"--net", "resnet18"}).config);
  EXPECT_TRUE(backend_settings().tf32_conv);
  EXPECT_FALSE(backend_settings().tf32_matmul);
  EXPECT_EQ(backend_settings().conv_algo, ConvAlgoSearch::Heuristic);
  backend_settings() = saved;

  // A resumed run keeps its math: another TF32 setting is refused.
  TrainConfig run = parse({"--net", "resnet18"}).config;
  EXPECT_THROW(merge_resume_config(run, parse({"--resume", "r", "--tf32-conv", "off"})), Error);
  EXPECT_NO_THROW(merge_resume_config(run, parse({"--resume", "r", "--tf32-matmul", "off"})));
}

TEST(TrainConfig, PrecisionOption) {
  EXPECT_EQ(parse({"--net", "resnet18"}).config.precision, "fp32");
  TrainConfig bf = parse({"--net", "resnet18", "--precision", "bf16"}).config;
  EXPECT_EQ(bf.precision, "bf16");
  EXPECT_EQ(config_to_json(bf)["precision"], "bf16");
  EXPECT_NO_THROW(validate_config(bf));
  EXPECT_THROW(parse({"--net", "resnet18", "--precision", "fp16"}), CliExit);
  bf.dtype = "float64";
  EXPECT_THROW(validate_config(bf), Error);  // bf16 keeps float32 master weights
  EXPECT_THROW(merge_resume_config(parse({"--net", "resnet18"}).config, parse({"--resume", "r", "--precision", "bf16"})),
               Error);
}

TEST(TrainConfig, CudaGraphOption) {
  EXPECT_EQ(parse({"--net", "resnet18"}).config.cuda_graph, "on");
  TrainConfig off = parse({"--net", "resnet18", "--cuda-graph", "off"}).config;
  EXPECT_EQ(off.cuda_graph, "off");
  EXPECT_EQ(config_to_json(off)["cuda_graph"], "off");
  EXPECT_THROW(parse({"--net", "resnet18", "--cuda-graph", "maybe"}), CliExit);
  // Graphs replay the same kernels with the same arguments: a resumed run may switch them.
  TrainConfig m = merge_resume_config(parse({"--net", "resnet18"}).config, parse({"--resume", "r", "--cuda-graph", "off"}));
  EXPECT_EQ(m.cuda_graph, "off");
}

TEST(TrainConfig, ResumeTakesSavedSettings) {
  TrainConfig saved = parse({"--net", "resnet18", "--delta", "0.5", "--epochs", "10"}).config;
  // Nothing but --resume: every setting comes from the saved run.
  TrainConfig m = merge_resume_config(saved, parse({"--resume", "logs/r"}));
  EXPECT_EQ(m.delta, 0.5);
  EXPECT_EQ(m.epochs, 10);
  EXPECT_EQ(m.resume, "logs/r");
  // --epochs may be raised; the same value of another flag is fine.
  m = merge_resume_config(saved, parse({"--resume", "logs/r", "--epochs", "20", "--delta", "0.5", "-a", "resnet18"}));
  EXPECT_EQ(m.epochs, 20);
  EXPECT_THROW(merge_resume_config(saved, parse({"--resume", "logs/r", "--epochs", "5"})), Error);
  EXPECT_THROW(merge_resume_config(saved, parse({"--resume", "logs/r", "--delta", "0.4"})), Error);
  EXPECT_THROW(merge_resume_config(saved, parse({"--resume", "logs/r", "-lr=0.1"})), Error);
  EXPECT_THROW(merge_resume_config(saved, parse({"--resume", "logs/r", "--nesterov"})), Error);
}

TEST(TrainConfig, Validation) {
  TrainConfig ok = parse({"--net", "resnet18"}).config;
  EXPECT_NO_THROW(validate_config(ok));
  auto bad = [&](auto edit) {
    TrainConfig c = ok;
    edit(c);
    EXPECT_THROW(validate_config(c), Error);
  };
  bad([](TrainConfig& c) { c.delta = 0; });
  bad([](TrainConfig& c) { c.delta = 1.01; });
  bad([](TrainConfig& c) { c.net = ""; });
  bad([](TrainConfig& c) { c.batch_size = 0; });
  bad([](TrainConfig& c) { c.epochs = 0; });
  bad([](TrainConfig& c) { c.lr = -1; });
  bad([](TrainConfig& c) { c.momentum = 1; });
  bad([](TrainConfig& c) { c.zeta = -2; });
  bad([](TrainConfig& c) { c.tf32_conv = "maybe"; });
  bad([](TrainConfig& c) { c.tf32_matmul = ""; });
  bad([](TrainConfig& c) { c.conv_algo = "fast"; });
}

TEST(TrainCli, OverlayTakesOnlyTheGivenSettings) {
  TrainConfig run = parse({"--net", "resnet18", "--labels", "coarse", "--permute", "--crop", "64", "--seed", "7"}).config;
  ParsedArgs cli = parse({"--net", "resnet18", "--crop", "32", "--batch-size", "8"});
  TrainConfig c = overlay_config(run, cli.config, cli.given);
  EXPECT_EQ(c.crop, 32);        // given
  EXPECT_EQ(c.batch_size, 8);   // given
  EXPECT_EQ(c.labels, "coarse");  // the run's
  EXPECT_TRUE(c.permute);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(overlay_config(run, cli.config, {}).crop, 64);
}

TEST(TrainConfig, SelectOption) {
  // One registry of method names; dybat is the default and today's behaviour.
  EXPECT_EQ(select_method_names().front(), "dybat");
  EXPECT_TRUE(is_select_method("dybat"));
  EXPECT_FALSE(is_select_method("hardest"));
  EXPECT_FALSE(is_select_method(""));
  TrainConfig c = parse({"--net", "resnet18"}).config;
  EXPECT_EQ(c.select, "dybat");
  EXPECT_EQ(config_to_json(c)["select"], "dybat");  // recorded in config.json
  EXPECT_EQ(parse({"--net", "resnet18", "--select", "dybat"}).config.select, "dybat");
  try {
    parse({"--net", "resnet18", "--select", "hardest"});
    ADD_FAILURE() << "an unknown method was accepted";
  } catch (const CliExit& e) {
    EXPECT_EQ(e.code, 2);
    EXPECT_NE(e.text.find("--select"), std::string::npos) << e.text;
    EXPECT_NE(e.text.find("hardest"), std::string::npos) << e.text;
  }
  c.select = "hardest";  // e.g. from a hand-edited config.json
  std::string msg = test::error_of([&] { validate_config(c); });
  EXPECT_NE(msg.find("--select must be one of dybat, random, sample-topk, selective-backprop, infobatch, got "
                     "'hardest'"),
            std::string::npos)
      << msg;
  // A config.json from before the option ran DyBAT's selection.
  EXPECT_EQ(config_from_json(nlohmann::json{{"net", "resnet18"}}).select, "dybat");
  TrainConfig run = parse({"--net", "resnet18"}).config;
  EXPECT_NO_THROW(merge_resume_config(run, parse({"--resume", "r", "--select", "dybat"})));
}

TEST(TrainConfig, SelectMethodSettings) {
  // Every method parses, with its settings recorded in config.json and read back.
  for (const std::string& m : select_method_names()) EXPECT_NO_THROW(validate_config(parse({"--net", "resnet18", "--select", m}).config)) << m;
  TrainConfig c = parse({"--net", "resnet18", "--select", "sample-topk", "--keep", "0.25", "--keep-start", "0.5",
                         "--keep-end", "0.9"})
                      .config;
  EXPECT_NO_THROW(validate_config(c));
  EXPECT_EQ(config_from_json(config_to_json(c)).keep, 0.25);
  EXPECT_EQ(config_from_json(config_to_json(c)).keep_end, 0.9);
  c = parse({"--net", "resnet18", "--select", "selective-backprop", "--beta", "3", "--window", "512"}).config;
  EXPECT_NO_THROW(validate_config(c));
  EXPECT_EQ(config_to_json(c)["window"], 512);
  c = parse({"--net", "resnet18", "--select", "infobatch", "--prune-ratio", "0.7", "--anneal", "0"}).config;
  EXPECT_NO_THROW(validate_config(c));
  EXPECT_EQ(config_from_json(config_to_json(c)).prune_ratio, 0.7);
  // Out of range, or a setting of another method: exit 2 naming the flag.
  const std::pair<std::vector<std::string>, std::string> bad[] = {
      {{"--select", "sample-topk", "--keep", "0"}, "--keep must be in (0, 1]"},
      {{"--select", "sample-topk", "--keep", "1.5"}, "--keep must be in (0, 1]"},
      {{"--select", "sample-topk", "--keep-start", "0.8", "--keep-end", "0.5"}, "--keep-start and --keep-end"},
      {{"--select", "selective-backprop", "--beta", "-1"}, "--beta must be in [0, 64]"},
      {{"--select", "selective-backprop", "--window", "0"}, "--window must be in [1, 1048576]"},
      {{"--select", "infobatch", "--prune-ratio", "0.95"}, "--prune-ratio must be in [0, 0.9]"},
      {{"--select", "infobatch", "--anneal", "2"}, "--anneal must be in [0, 1]"},
      {{"--select", "dybat", "--keep", "0.3"}, "--keep does not apply to --select dybat"},
      {{"--select", "random", "--beta", "2"}, "--beta does not apply to --select random"},
      {{"--select", "sample-topk", "--window", "8"}, "--window does not apply to --select sample-topk"},
      {{"--select", "infobatch", "--delta", "0.5"}, "--delta does not apply to --select infobatch"},
      {{"--select", "selective-backprop", "--zeta", "3"}, "--zeta does not apply to --select selective-backprop"},
  };
  for (const auto& [args, want] : bad) {
    std::vector<std::string> a = {"--net", "resnet18"};
    a.insert(a.end(), args.begin(), args.end());
    std::string msg = test::error_of([&] { validate_config(parse(a).config); });
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
  }
  // Which settings belong to which method (the sweep passes each only to its method's runs).
  EXPECT_TRUE(select_flag_applies("keep", "sample-topk"));
  EXPECT_FALSE(select_flag_applies("keep", "infobatch"));
  EXPECT_TRUE(select_flag_applies("delta", "random"));
  EXPECT_FALSE(select_flag_applies("delta", "selective-backprop"));
  EXPECT_TRUE(select_flag_applies("lr", "infobatch"));
  EXPECT_TRUE(select_uses_delta("dybat") && select_uses_delta("random") && !select_uses_delta("sample-topk"));
}
