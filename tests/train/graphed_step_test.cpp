// The step policy on the CPU: GraphedStep runs its step plainly, audited after the warm-up, or
// refuses graphs without a CUDA device; a step with a device-side loop runs its body while the
// device flag says so.
#include "train/graphed_step.h"

#include "core/copy.h"
#include "core/error.h"
#include "core/tensor.h"
#include "support/test_util.h"
#include "train/select_sb.h"

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

namespace {

// A step with a device-side loop: the body runs while the flag its kernels keep says so
// (pending = state[3] < 3, as Selective-Backprop's queue test), then the tail.
void loop_step(GraphedStep& g, const Tensor& state, const Tensor& pending, const Tensor& tails) {
  Tensor id = Tensor::zeros({1}, DType::Int64, state.device());
  g.run_while(
      pending, [&] { sb_prepare(state, 1, 3, id, pending); },
      [&] {
        advance_counter(state.slice(0, 1));  // iterations in all
        advance_counter(state.slice(3, 4));  // this step's
        sb_prepare(state, 1, 3, id, pending);
      },
      [&] {
        state.slice(3, 4).zero_();
        advance_counter(tails);
      });
}

}  // namespace

TEST(GraphedStep, DeviceLoopRunsItsBodyWhileTheFlagIsSet) {
  for (GraphedStep::Mode mode : {GraphedStep::Mode::Eager, GraphedStep::Mode::Audit}) {
    Tensor state = Tensor::zeros({4}, DType::Int64), pending = Tensor::zeros({1}, DType::Int32);
    Tensor tails = Tensor::zeros({1}, DType::Int64);
    GraphedStep g(Device::cpu(), mode, "a loop step");
    for (int i = 0; i < 5; ++i) loop_step(g, state, pending, tails);  // audited from the third on
    EXPECT_EQ(state.to_vector<int64_t>()[0], 15);
    EXPECT_EQ(tails.to_vector<int64_t>()[0], 5);
    EXPECT_EQ(g.calls(), 5);
  }
  Tensor wrong = Tensor::zeros({1}, DType::Int64);
  GraphedStep g(Device::cpu(), GraphedStep::Mode::Eager, "a loop step");
  EXPECT_THROW(g.run_while(wrong, [] {}, [] {}, [] {}), Error);  // the flag must be an int32
}
