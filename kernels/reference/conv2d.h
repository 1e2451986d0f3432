// 2-d convolution, the reference: PyTorch's conv2d written as its definition in plain loops, in
// double (conv2d.cpp). The fast versions are kernels/conv2d_cpu.cpp and kernels/conv2d.cu.
//
// Conventions of the whole reference tier (kernels/reference/): every buffer is a flat row-major
// array of doubles with its shape in a comment; sizes are passed explicitly; a forward assigns
// its outputs; a backward ADDS (+=) into every gradient buffer, so callers start them at zero.
#pragma once

#include <cstdint>

namespace dybat::ref {

// The geometry of one convolution.
//   input  [batch, in_channels, in_h, in_w]
//   weight [out_channels, in_channels / groups, kernel_h, kernel_w]
//   bias   [out_channels] (optional)
//   output [batch, out_channels, out_h(), out_w()]
struct Conv2dShape {
  int64_t batch = 1, in_channels = 1, in_h = 1, in_w = 1;
  int64_t out_channels = 1, kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;
  int64_t out_h() const { return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
};

// out = conv(inp, weight) + bias; bias may be null (no bias).
void conv2d_forward(const Conv2dShape& s, const double* inp, const double* weight, const double* bias, double* out);

// Adds the gradients of <dout, out> into dinp [input shape], dweight [weight shape] and
// dbias [out_channels] (dbias may be null).
void conv2d_backward(const Conv2dShape& s, const double* dout, const double* inp, const double* weight, double* dinp,
                     double* dweight, double* dbias);

}  // namespace dybat::ref
