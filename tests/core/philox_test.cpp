// Philox4x32-10 against the published known-answer vectors, and the derived streams.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/philox.h"
#include "core/tensor.h"

using namespace dybat;

TEST(Philox, KnownAnswerVectors) {
  // Known-answer tests of Salmon et al.'s reference implementation (Random123 kat_vectors).
  Philox4 r = philox4x32_10({0, 0, 0, 0}, 0, 0);
  EXPECT_EQ(r.x, 0x6627e8d5u);
  EXPECT_EQ(r.y, 0xe169c58du);
  EXPECT_EQ(r.z, 0xbc57ac4cu);
  EXPECT_EQ(r.w, 0x9b00dbd8u);
  r = philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(r.x, 0x408f276du);
  EXPECT_EQ(r.y, 0x41c83b0eu);
  EXPECT_EQ(r.z, 0xa20bc7c6u);
  EXPECT_EQ(r.w, 0x6d5451fdu);
  r = philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(r.x, 0xd16cfe09u);
  EXPECT_EQ(r.y, 0x94fdccebu);
  EXPECT_EQ(r.z, 0x5001e420u);
  EXPECT_EQ(r.w, 0x24126ea1u);
}

TEST(Philox, UniformStreamIsInRangeAndLooksUniform) {
  double sum = 0, sum2 = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double u = philox_uniform(7, 3, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sum2 += u * u;
  }
  double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.01);
  EXPECT_NEAR(var, 1.0 / 12, 0.005);
}

TEST(Philox, NormalStreamMoments) {
  double sum = 0, sum2 = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double z = philox_normal(11, 0, i);
    sum += z;
    sum2 += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.03);
  EXPECT_NEAR(sum2 / n, 1.0, 0.04);
}

TEST(Philox, GeneratorGivesDisjointReproducibleStreams) {
  Generator g1(5), g2(5);
  Tensor a = Tensor::uniform({64}, 0, 1, g1), b = Tensor::uniform({64}, 0, 1, g1);
  Tensor a2 = Tensor::uniform({64}, 0, 1, g2);
  EXPECT_EQ(a.to_vector<float>(), a2.to_vector<float>());  // same seed, same numbers
  EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());   // next offset, new numbers
  Generator g3(6);
  EXPECT_NE(a.to_vector<float>(), Tensor::uniform({64}, 0, 1, g3).to_vector<float>());
}

TEST(Philox, TensorInitIsIndependentOfShape) {
  // Element i of a stream does not depend on how the tensor is shaped.
  Generator g1(9), g2(9);
  Tensor a = Tensor::normal({4, 8}, 0, 2, g1, DType::Float64);
  Tensor b = Tensor::normal({32}, 0, 2, g2, DType::Float64);
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
}
