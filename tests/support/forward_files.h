// What the tests of tools/forward share (tests/tools/forward_test.cpp,
// tests/cuda/forward_tool_cuda_test.cpp): a fresh folder per test for the weights, input and
// output files, the net's golden weights written by timm's names, and the program's arguments.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/safetensors.h"
#include "layers/module.h"
#include "layers/weights.h"
#include "nets/registry.h"
#include "support/net_util.h"

namespace dybat::test {

namespace fs = std::filesystem;

struct ForwardFiles {
  fs::path dir;
  std::string weights, input, output;
  ForwardFiles() {
    dir = fs::temp_directory_path() / ("dybat_forward_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    weights = (dir / "w.safetensors").string();
    input = (dir / "in.safetensors").string();
    output = (dir / "out.safetensors").string();
  }
  ~ForwardFiles() { fs::remove_all(dir); }
};

inline const char* kForwardNet = "mobilenetv3_small_100";

// Golden formula weights for the net, saved by timm's names.
inline std::shared_ptr<Module> write_golden_weights(const std::string& path) {
  Generator g(0);
  auto net = create_net(kForwardNet, 10, g);
  set_golden_weights(*net);
  save_weights(*net, path);
  return net;
}

inline std::map<std::string, Tensor> read_all_tensors(const std::string& path) {
  std::map<std::string, Tensor> m;
  for (auto& [n, t] : read_safetensors(path).tensors) m[n] = t;
  return m;
}

inline std::string forward_args(const ForwardFiles& f, const std::string& extra) {
  return std::string("--net ") + kForwardNet + " --weights '" + f.weights + "' --input '" + f.input + "' --output '" +
         f.output + "' " + extra;
}

}  // namespace dybat::test
