// The step policy on the CPU: GraphedStep runs its step plainly, audited after the warm-up, or
// refuses graphs without a CUDA device.
#include "train/graphed_step.h"

#include "core/error.h"
#include "core/tensor.h"
#include "support/test_util.h"

using namespace dybat;

TEST(GraphedStep, EagerAndAuditModes) {
  Tensor t = Tensor::full({1}, 5.0);
  int calls = 0;
  GraphedStep eager(Device::cpu(), GraphedStep::Mode::Eager, "a step");
  for (int i = 0; i < 4; ++i) eager.run([&] { calls += static_cast<int>(t.item() == 5.0); });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(eager.calls(), 4);

  // Audit: the first two calls are the warm-up; from the third on a host read is an error.
  GraphedStep audit(Device::cpu(), GraphedStep::Mode::Audit, "a step");
  audit.run([&] { t.item(); });
  audit.run([&] { t.item(); });
  EXPECT_FALSE(audit.past_warm_up());
  EXPECT_THROW(audit.run([&] { t.item(); }), Error);
  EXPECT_TRUE(audit.past_warm_up());
  int quiet = 0;
  audit.run([&] { ++quiet; });
  EXPECT_EQ(quiet, 1);
}

TEST(GraphedStep, GraphsNeedACudaDevice) {
  EXPECT_THROW(GraphedStep(Device::cpu(), GraphedStep::Mode::Graph, "a step"), Error);
}
