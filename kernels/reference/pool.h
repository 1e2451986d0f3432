// Pooling, the reference: max, average and adaptive average pooling over each (image, channel)
// plane, in plain loops in double (pool.cpp). The fast versions are kernels/pool_cpu.cpp and
// kernels/pool.cu. Conventions: see conv2d.h (flat double arrays, forward assigns, backward adds).
#pragma once

#include <cstdint>

namespace dybat::ref {

// The geometry of a windowed pool: input [batch, channels, in_h, in_w], output
// [batch, channels, out_h(), out_w()] (floor mode, dilation 1).
struct Pool2dShape {
  int64_t batch = 1, channels = 1, in_h = 1, in_w = 1;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t out_h() const { return (in_h + 2 * pad_h - kernel_h) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - kernel_w) / stride_w + 1; }
};

// out = the largest value of each window; argmax [output shape] = its index row * in_w + col
// within the input plane.
void max_pool2d_forward(const Pool2dShape& s, const double* inp, double* out, int64_t* argmax);
// Adds dout to dinp at each window's argmax.
void max_pool2d_backward(const Pool2dShape& s, const double* dout, const int64_t* argmax, double* dinp);

// out = the sum of each window's real cells divided by kernel_h * kernel_w (padding counts in
// the divisor: PyTorch's count_include_pad = true).
void avg_pool2d_forward(const Pool2dShape& s, const double* inp, double* out);
void avg_pool2d_backward(const Pool2dShape& s, const double* dout, double* dinp);

// Adaptive average pooling of [batch, channels, in_h, in_w] to [batch, channels, out_h, out_w];
// out_h = out_w = 1 is global average pooling.
void adaptive_avg_pool2d_forward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                                 const double* inp, double* out);
void adaptive_avg_pool2d_backward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                                  const double* dout, double* dinp);

}  // namespace dybat::ref
