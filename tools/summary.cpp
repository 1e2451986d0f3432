// summary: prints a net's layers (output shape, parameters, forward FLOPs) and totals, or the
// same as one JSON object. Computed from shapes alone; nothing runs through the net.
//   ./tools/summary --net resnet18 [--crop 128] [--classes 10] [--json]
#include "nets/summary.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "nets/registry.h"
#include "tools/tool_common.h"

static int run(int argc, char** argv) {
  CLI::App app{"Per-layer output shapes, parameters and forward FLOPs of a net (batch 1)"};
  std::string net;
  int crop = 128, classes = 10;
  bool json = false;
  std::string names;
  for (auto& n : dybat::net_names()) names += (names.empty() ? "" : ", ") + n;
  app.add_option("--net", net, "net name: " + names + " (aliases mobilenetv3_small, effnetv2_s, effnet_b4)")
      ->required();
  app.add_option("--crop", crop, "input height and width in pixels")->capture_default_str();
  app.add_option("--classes", classes, "number of classes")->capture_default_str();
  app.add_flag("--json", json, "print one JSON object instead of the table");
  dybat::tools::parse_command_line(app, argc, argv);
  DYBAT_CHECK(!dybat::canonical_net_name(net).empty(), "--net: unknown net '", net, "'; known nets: ", names,
              " (aliases: mobilenetv3_small, effnetv2_s, effnet_b4)");
  DYBAT_CHECK(crop >= 1, "--crop: must be a positive number of pixels, got ", crop);
  DYBAT_CHECK(classes >= 1, "--classes: must be at least 1, got ", classes);
  auto s = dybat::summarize_net(net, crop, classes);
  if (json)
    std::cout << dybat::summary_json(s).dump(1) << "\n";
  else
    std::cout << dybat::summary_table(s);
  return 0;
}

int main(int argc, char** argv) {
  return dybat::tools::main_guard("summary", [&] { return run(argc, argv); });
}
