// The record of cuDNN algorithm choices (kernels/conv2d.h): import/merge rules and lookups, and a
// trip through the checkpoint's text form (train/checkpoint_algos.h), all host-side (the CUDA
// side that fills it is tested in tests/cuda/conv2d_algo_test.cpp).
#include "core/error.h"
#include "kernels/conv2d.h"
#include "support/kernel_cases.h"
#include "support/test_util.h"
#include "train/checkpoint_algos.h"

using namespace dybat;
using dybat::test::conv_algo_record;

namespace {

// Clears the process-wide record around a test.
struct CleanRecord {
  CleanRecord() { clear_conv2d_algorithms(); }
  ~CleanRecord() { clear_conv2d_algorithms(); }
};

}  // namespace

TEST(Conv2dAlgorithms, StoreFindImportAndList) {
  CleanRecord clean;
  const std::vector<int64_t> a = {0, 3, 1, 5}, b = {0, 3, 1, 6};
  int algo = -7, math = -7;
  EXPECT_FALSE(detail::find_conv2d_algorithm(a, 0, algo, math));
  detail::store_conv2d_algorithm(a, 2, 4, 1);
  EXPECT_FALSE(detail::find_conv2d_algorithm(a, 0, algo, math));  // only direction 2 is known
  ASSERT_TRUE(detail::find_conv2d_algorithm(a, 2, algo, math));
  EXPECT_EQ(algo, 4);
  EXPECT_EQ(math, 1);

  // An import fills the directions it gives and keeps the others; new keys are added.
  import_conv2d_algorithms({conv_algo_record(a, 1, 3, -1, -1, -1, -1), conv_algo_record(b, 0, 0, 1, 0, 2, 0)});
  std::vector<ConvAlgoRecord> all = conv2d_algorithms();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], conv_algo_record(a, 1, 3, -1, -1, 4, 1));  // ordered by key
  EXPECT_EQ(all[1], conv_algo_record(b, 0, 0, 1, 0, 2, 0));

  // The list survives a trip through the text form and a clear, as a checkpoint would carry it.
  std::string text = conv2d_algorithms_to_text(all);
  clear_conv2d_algorithms();
  EXPECT_TRUE(conv2d_algorithms().empty());
  import_conv2d_algorithms(conv2d_algorithms_from_text(text));
  EXPECT_EQ(conv2d_algorithms(), all);

  EXPECT_THROW(detail::store_conv2d_algorithm(a, 3, 0, 0), Error);
  EXPECT_THROW(detail::find_conv2d_algorithm(a, -1, algo, math), Error);
  EXPECT_THROW(import_conv2d_algorithms({ConvAlgoRecord{}}), Error);  // no key
}
