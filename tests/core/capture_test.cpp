// Capture safety on the CPU: inside a CaptureScope host reads and new allocations throw with a
// clear message, cached allocations are fine, scopes nest; a CUDA graph needs a CUDA device.
#include "core/capture.h"

#include "core/allocator.h"
#include "core/cuda_graph.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernels/dropout.h"
#include "support/test_util.h"

using namespace dybat;

TEST(Capture, HostReadsThrowInsideAScope) {
  Tensor t = Tensor::full({3}, 2.0);
  EXPECT_FALSE(capture_active());
  EXPECT_EQ(t.to_vector<float>()[0], 2.0f);
  {
    CaptureScope scope("the test step");
    EXPECT_TRUE(capture_active());
    try {
      t.slice(0, 1).item();
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(e.message().find("item"), std::string::npos) << e.message();
      EXPECT_NE(e.message().find("capturing the test step"), std::string::npos) << e.message();
    }
    EXPECT_THROW(t.to_vector<float>(), Error);
  }
  EXPECT_FALSE(capture_active());
  EXPECT_EQ(t.slice(0, 1).item(), 2.0);
}

TEST(Capture, NewAllocationsThrowCachedOnesDoNot) {
  { Tensor warm = Tensor::empty({54321}); }  // leaves a block of this size class in the cache
  CaptureScope scope("the test step");
  EXPECT_NO_THROW(Tensor::empty({54321}));
  uint64_t before = cpu_allocator().stats().system_allocs;
  try {
    Tensor::empty({12345, 1001});  // a size class nothing has used yet: new memory
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("new memory"), std::string::npos) << e.message();
  }
  // The block taken from the system went back to the cache, and bytes in use are unchanged.
  EXPECT_EQ(cpu_allocator().stats().system_allocs, before + 1);
  EXPECT_NO_THROW(Tensor::empty({12345, 1001}));
}

TEST(Capture, ScopesNest) {
  {
    CaptureScope outer("outer");
    {
      CaptureScope inner("inner");
      EXPECT_TRUE(capture_active());
    }
    EXPECT_TRUE(capture_active());
    try {
      capture_check("an operation");
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(e.message().find("capturing outer"), std::string::npos) << e.message();
    }
  }
  EXPECT_FALSE(capture_active());
  EXPECT_NO_THROW(capture_check("an operation"));
}

TEST(Capture, DropoutInTrainingCannotBeCaptured) {
  // Its random offset is drawn on the host: replays would repeat one mask, so it is refused.
  Generator g(1);
  Tensor x = Tensor::ones({16});
  CaptureScope scope("a step with dropout");
  EXPECT_THROW(dropout(x, 0.5, true, g), Error);
  EXPECT_NO_THROW(dropout(x, 0.5, false, g));  // evaluation: the identity
  EXPECT_NO_THROW(dropout(x, 0.0, true, g));
}

TEST(Capture, GraphsNeedACudaDevice) { EXPECT_THROW(CudaGraph(Device::cpu(), "a step"), Error); }
