// The checkpoint's text form of the cuDNN algorithm record (train/checkpoint_algos.h): a round
// trip, and malformed text rejected naming the record.
#include "core/error.h"
#include "support/kernel_cases.h"
#include "support/test_util.h"
#include "train/checkpoint_algos.h"

using namespace dybat;
using dybat::test::conv_algo_record;

TEST(CheckpointAlgorithms, TextRoundTrip) {
  std::vector<ConvAlgoRecord> recs = {
      conv_algo_record({0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8, 3, 32, 32, 16, 3, 3, 3}, 1, 3, 0, 3, 1, 3),
      conv_algo_record({0, 1, 0, 2, 2, 0, 0, 1, 1, 4, 2, 8, 9, 9, 8, 2, 1, 1}, 7, 1, -1, -1, 5, 2)};
  std::string text = conv2d_algorithms_to_text(recs);
  EXPECT_EQ(text, "0,3,1,1,1,1,1,1,1,1,8,3,32,32,16,3,3,3=1:3/0:3/1:3;0,1,0,2,2,0,0,1,1,4,2,8,9,9,8,2,1,1=7:1/-1:-1/5:2");
  EXPECT_EQ(conv2d_algorithms_from_text(text), recs);
  EXPECT_TRUE(conv2d_algorithms_from_text("").empty());
  EXPECT_EQ(conv2d_algorithms_to_text({}), "");
}

TEST(CheckpointAlgorithms, MalformedTextThrows) {
  for (const char* bad : {"1,2", "1,2=1:1/2:2", "1,2=1:1/2:2/3", "1,x=1:1/2:2/3:3", "=1:1/2:2/3:3", "1,2=1:1/2:2/3:3;",
                          "1,2=1:1/2:2/3:3:4", "1,2=99999:1/2:2/3:3", "1,2=-2:1/2:2/3:3"}) {
    EXPECT_THROW(conv2d_algorithms_from_text(bad), Error) << bad;
  }
  try {
    conv2d_algorithms_from_text("1,2=1:1");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("'1,2=1:1'"), std::string::npos) << e.message();
  }
}
