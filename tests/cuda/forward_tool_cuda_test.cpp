// tools/forward trains on the GPU as on the CPU: the same outputs in float32 up to the order of
// the sums (support/forward_files.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/safetensors.h"
#include "support/forward_files.h"
#include "support/net_util.h"
#include "support/run_util.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;

TEST(CudaForwardTool, TrainOnTheGpuMatchesTheCpu) {
  DYBAT_REQUIRE_GPU();
  ForwardFiles f;
  write_golden_weights(f.weights);
  write_safetensors(f.input, {{"x", golden_input({4, 3, 64, 64}, DType::Float32)}, {"y", golden_labels(4)}});
  auto r = run_tool("forward", forward_args(f, "--mode train --device cpu"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto cpu = read_all_tensors(f.output);
  r = run_tool("forward", forward_args(f, "--mode train --device cuda"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto gpu = read_all_tensors(f.output);
  ASSERT_EQ(cpu.size(), gpu.size());
  for (auto& [name, t] : cpu) {
    ASSERT_TRUE(gpu.count(name)) << name;
    if (t.dtype() == DType::Int64) {
      EXPECT_EQ(gpu[name].to_vector<int64_t>(), t.to_vector<int64_t>()) << name;
      continue;
    }
    // Float32 on both sides (the tool turns TF32 off); only the summation order differs.
    auto a = t.to(DType::Float64).to_vector<double>(), b = gpu[name].to(DType::Float64).to_vector<double>();
    double m = 0, d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      m = std::max(m, std::abs(a[i]));
      d = std::max(d, std::abs(a[i] - b[i]));
    }
    EXPECT_LE(d, 2e-3 * m + 1e-5) << name;
  }
}
