// tools/summary: the summary library (table, JSON) and the built program end to end.
#include "nets/summary.h"

#include <gtest/gtest.h>

#include "support/net_util.h"
#include "support/run_util.h"

using namespace dybat;
using namespace dybat::test;

// (NetStructure checks every net at every crop exactly; this checks the library's totals.)
TEST(Summary, GflopsAndParamsMatchTimm) {
  auto ref = read_json(data_file("timm/summary.json"));
  for (auto& net : {"mobilenetv3_small"}) {
    for (int crop : {32, 96, 128}) {
      auto s = summarize_net(net, crop, 10);
      auto r = ref[s.net];
      EXPECT_EQ(s.params, r["params_10"].get<int64_t>()) << net;
      double g = r["gflops_fwd_" + std::to_string(crop)].get<double>();
      EXPECT_LE(std::abs(s.gflops - g), 0.01 * g) << net << " at " << crop << " px: " << s.gflops << " vs " << g;
    }
  }
}

TEST(Summary, TableAndJsonAgree) {
  auto s = summarize_net("resnet18", 64, 100);
  auto j = summary_json(s);
  EXPECT_EQ(j["net"], "resnet18");
  EXPECT_EQ(j["params"].get<int64_t>(), 11227812);
  ASSERT_EQ(j["layers"].size(), s.rows.size());
  int64_t params = 0, flops = 0;
  for (auto& l : j["layers"]) {
    params += l["params"].get<int64_t>();
    flops += l["flops"].get<int64_t>();
  }
  EXPECT_EQ(params, 11227812);
  EXPECT_DOUBLE_EQ(static_cast<double>(flops) / 1e9, j["gflops"].get<double>());
  EXPECT_EQ(j["layers"][0]["name"], "conv1");
  EXPECT_EQ(j["layers"][0]["output"], nlohmann::json({1, 64, 32, 32}));
  EXPECT_EQ(j["layers"].back()["name"], "fc");
  EXPECT_EQ(j["layers"].back()["output"], nlohmann::json({1, 100}));

  std::string table = summary_table(s);
  EXPECT_NE(table.find("layer4.1.conv2"), std::string::npos);
  EXPECT_NE(table.find("11,227,812 parameters"), std::string::npos) << table;
}

TEST(Summary, ProgramPrintsJsonAndRejectsBadInput) {
  auto r = run_tool("summary", "--net mobilenetv3_small --crop 96 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["net"], "mobilenetv3_small_100");
  EXPECT_EQ(j["params"].get<int64_t>(), 1528106);
  EXPECT_NEAR(j["gflops"].get<double>(), 0.022115200, 1e-9);
  EXPECT_GT(j["layers"].size(), 100u);

  r = run_tool("summary", "--net resnet50 --crop 32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("23,528,522 parameters, 0.166863 forward GFLOPs"), std::string::npos) << r.output;

  r = run_tool("summary", "--net resnet34");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--net: unknown net 'resnet34'"), std::string::npos) << r.output;
  r = run_tool("summary", "--net resnet18 --classes 0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--classes"), std::string::npos) << r.output;
  r = run_tool("summary", "--crop 64");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--net is required"), std::string::npos) << r.output;
}
