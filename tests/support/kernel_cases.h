// Cases that a CPU test and its CUDA parity test share: float32 values that stress bfloat16
// rounding, a few SGD updates with the rate given either way, and records of cuDNN algorithm
// choices.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/sgd.h"
#include "support/test_util.h"

namespace dybat::test {

inline float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Float32 inputs (as bit patterns) that stress the rounding, and the bf16 bits expected.
inline const std::pair<uint32_t, uint16_t> kBf16Cases[] = {
    {0x3f800000, 0x3f80},  // 1
    {0x3f808000, 0x3f80},  // 1 + 2^-8: halfway, ties to the even 0x3f80
    {0x3f818000, 0x3f82},  // halfway between 0x3f81 and 0x3f82: to the even 0x3f82
    {0x3f808001, 0x3f81},  // just above halfway
    {0x3f807fff, 0x3f80},  // just below halfway
    {0xbfc00000, 0xbfc0},  // -1.5
    {0x3fffc000, 0x4000},  // rounds up across an exponent boundary
    {0x7f7fffff, 0x7f80},  // the largest float rounds to +inf
    {0x7f7f7fff, 0x7f7f},  // below the halfway point: the largest bf16
    {0x7f800000, 0x7f80},  // +inf
    {0xff800000, 0xff80},  // -inf
    {0x7fc00001, 0x7fc0},  // quiet NaN with payload: the canonical NaN
    {0xffc00000, 0x7fc0},  // negative NaN
    {0x7f800001, 0x7fc0},  // signalling NaN (rounding must not turn it into inf)
    {0x80000000, 0x8000},  // -0
    {0x00000001, 0x0000},  // the smallest subnormal rounds to +0
    {0x00008000, 0x0000},  // subnormal halfway: to the even 0
    {0x00018000, 0x0002},  // subnormal halfway: to the even 2
    {0x00ffffff, 0x0100},  // a mantissa of all ones carries into the next exponent
};

// Three updates of two parameters with momentum and weight decay, the rate given either way.
inline std::vector<Tensor> sgd_three_steps(Device d, bool as_tensor) {
  std::vector<Tensor> ps = {rand({7}, 1).to(DType::Float32).to(d), rand({3, 5}, 2).to(DType::Float32).to(d)};
  std::vector<Tensor> bs = {ps[0].zeros_like(), ps[1].zeros_like()};
  SgdOptions opt{0.0, 0.9, 1e-3, true};
  Tensor lr = Tensor::zeros({1}, DType::Float64, d);
  for (int s = 0; s < 3; ++s) {
    const double rate = 0.05 / (s + 1);
    std::vector<Tensor> gs = {rand({7}, 10 + s).to(DType::Float32).to(d), rand({3, 5}, 20 + s).to(DType::Float32).to(d)};
    if (as_tensor) {
      lr.fill_(rate);
      sgd_update(ps, gs, bs, opt, lr);
    } else {
      SgdOptions o = opt;
      o.lr = rate;
      sgd_update(ps, gs, bs, o);
    }
  }
  return ps;
}

// A record of cuDNN algorithm choices: (algo, math) for forward, backward data, backward filter.
inline ConvAlgoRecord conv_algo_record(std::vector<int64_t> key, int a0, int m0, int a1, int m1, int a2, int m2) {
  ConvAlgoRecord r;
  r.key = std::move(key);
  r.algo[0] = a0, r.math[0] = m0, r.algo[1] = a1, r.math[1] = m1, r.algo[2] = a2, r.math[2] = m2;
  return r;
}

}  // namespace dybat::test
