// CUDA graphs on a device: a captured sequence replays with the values of each replay's device
// state, replays allocate nothing, and what a graph cannot hold is a clear error that leaves the
// stream usable.
#include "core/allocator.h"
#include "train/graphed_step.h"
#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "support/test_util.h"
#include "train/batches.h"
#include "core/copy.h"
#include "train/select_sb.h"
#include "train/selection.h"

using namespace dybat;

TEST(CudaGraph, ReplaysFollowDeviceState) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  // rows of `src` picked by a device cursor, as the training step picks its batch
  Tensor src = Tensor::from_vector<float>({1, -2, 3, -4, 5, -6, 7, -8}, {4, 2}).to(d);
  Tensor cursor = Tensor::zeros({1}, DType::Int64, d);
  Tensor row = Tensor::zeros({1, 2}, DType::Float32, d), acc = Tensor::zeros({1, 2}, DType::Float32, d);
  auto work = [&] {
    gather_batch(src, cursor, row);
    acc.copy_(add(acc, relu(row)));  // temporaries come from the graph's pool
    advance_counter(cursor);
  };
  GraphedStep step(d, GraphedStep::Mode::Graph, "a test step");
  for (int i = 0; i < 4; ++i) step.run(work);  // eager, warm-up, capture + replay, replay
  EXPECT_EQ(acc.to_vector<float>(), (std::vector<float>{1 + 3 + 5 + 7, 0}));
  EXPECT_EQ(cursor.item(), 4.0);
  // More replays after resetting the state from the host: the graph reads the new values.
  cursor.zero_();
  acc.zero_();
  uint64_t allocs = cuda_allocator(0).stats().system_allocs;
  for (int i = 0; i < 2; ++i) step.run(work);
  EXPECT_EQ(cuda_allocator(0).stats().system_allocs, allocs);
  EXPECT_EQ(acc.to_vector<float>(), (std::vector<float>{1 + 3, 0}));
}

TEST(CudaGraph, HostReadsInACaptureAreClearErrors) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  Tensor t = Tensor::ones({4}, DType::Float32, d);
  CudaGraph g(d, "a reading step");
  g.warm_up([&] { t.fill_(2.0); });
  try {
    g.capture([&] { t.fill_(3.0 + t.slice(0, 1).item()); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("capturing a reading step"), std::string::npos) << e.message();
  }
  EXPECT_FALSE(g.captured());
  EXPECT_THROW(g.replay(), Error);
  t.fill_(5.0);  // the stream is usable again
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{5, 5, 5, 5}));
}

TEST(CudaGraph, CaptureNeedsItsWarmUp) {
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  CudaGraph g(d, "an unwarmed step");
  Tensor out = Tensor::zeros({98765}, DType::Float32, d);
  try {
    g.capture([&] { out.copy_(add(out, 1.0)); });  // add's output needs memory the pool lacks
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("during a CUDA-graph capture"), std::string::npos) << e.message();
  }
  g.warm_up([&] { out.copy_(add(out, 1.0)); });
  g.capture([&] { out.copy_(add(out, 1.0)); });
  g.replay();
  g.replay();
  EXPECT_EQ(out.slice(0, 1).item(), 3.0);
}

TEST(CudaGraph, DeviceLoopReplaysWithoutTheHost) {
  // GraphedStep::run_while in graph mode: the loop's condition lives on the device (a conditional
  // WHILE node), so the replays run the body three times each with no host read or sync.
  DYBAT_REQUIRE_GPU();
  Device d = Device::cuda();
  Tensor state = Tensor::zeros({4}, DType::Int64, d), pending = Tensor::zeros({1}, DType::Int32, d);
  Tensor id = Tensor::zeros({1}, DType::Int64, d), tails = Tensor::zeros({1}, DType::Int64, d);
  GraphedStep g(d, GraphedStep::Mode::Graph, "a loop step");
  auto step = [&] {
    g.run_while(
        pending, [&] { sb_prepare(state, 1, 3, id, pending); },
        [&] {
          advance_counter(state.slice(0, 1));
          advance_counter(state.slice(3, 4));
          sb_prepare(state, 1, 3, id, pending);
        },
        [&] {
          state.slice(3, 4).zero_();
          advance_counter(tails);
        });
  };
  for (int i = 0; i < 3; ++i) step();  // eager, warm-up, capture + replay
  TransferCounters before = transfer_counters();
  for (int i = 0; i < 4; ++i) step();
  TransferCounters after = transfer_counters();
  EXPECT_EQ(after.host_reads, before.host_reads);
  EXPECT_EQ(after.syncs, before.syncs);
  EXPECT_EQ(state.to_vector<int64_t>()[0], 7 * 3);
  EXPECT_EQ(tails.to_vector<int64_t>()[0], 7);
}
