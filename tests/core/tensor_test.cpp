// Tests of Tensor creation, views, copies and the random generator.
#include <gtest/gtest.h>

#include "core/tensor.h"

using namespace dybat;

TEST(Tensor, CreateAndFill) {
  Tensor t = Tensor::full({2, 3}, 1.5);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_TRUE(t.is_contiguous());
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, 1.5f);
}
