// 2-d convolution (cross-correlation, as PyTorch's conv2d), any stride, padding, dilation and
// groups (depthwise included).
//
// Contract
//   x [N, C_in, H, W], weight [C_out, C_in/groups, kH, kW], bias [C_out] or undefined.
//   out [N, C_out, H_out, W_out], H_out = (H + 2 pad_h - dil_h (kH-1) - 1) / stride_h + 1.
//   All contiguous NCHW (the op makes inputs contiguous).
//   Saved for backward: x and weight.
//   dx = conv_transpose(dout, weight) (assigned); dweight += correlation of x with dout and
//   dbias += sum of dout over N, H, W (accumulated into the leaf's .grad).
//   CPU: im2col + GEMM for dense and grouped convolutions (1x1 stride-1 unpadded ones skip im2col),
//   in batch chunks of bounded memory; a direct loop for depthwise (groups == C_in == C_out).
//   CUDA: cuDNN, with the algorithm chosen once per geometry (from cuDNN's heuristics; only
//   deterministic ones under backend_settings().deterministic), workspace from the caching
//   allocator; TF32 only when backend_settings().tf32_conv.
#pragma once

#include "core/tensor.h"

namespace dybat {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dil_h = 1, dil_w = 1;
  int groups = 1;
};

// Output spatial size for one axis (throws if it would be < 1).
int64_t conv_out_size(int64_t in, int64_t k, int stride, int pad, int dil);

// Differentiable.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);

// Kernel level. conv2d_forward assigns out (bias added when defined). backward_input assigns dx;
// backward_weight adds into dweight; bias gradients use sum over (N, H, W) of dout.
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p, const Tensor& out);
void conv2d_backward_input(const Tensor& dout, const Tensor& weight, const Conv2dParams& p, const Tensor& dx);
void conv2d_backward_weight(const Tensor& dout, const Tensor& x, const Conv2dParams& p, const Tensor& dweight);
void conv2d_backward_bias(const Tensor& dout, const Tensor& dbias);  // dbias += sum_{n,h,w} dout

namespace cpu {
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p, const Tensor& out);
void conv2d_backward_input(const Tensor& dout, const Tensor& weight, const Conv2dParams& p, const Tensor& dx);
void conv2d_backward_weight(const Tensor& dout, const Tensor& x, const Conv2dParams& p, const Tensor& dweight);
void conv2d_backward_bias(const Tensor& dout, const Tensor& dbias);
}  // namespace cpu
namespace cuda {
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p, const Tensor& out);
void conv2d_backward_input(const Tensor& dout, const Tensor& weight, const Conv2dParams& p, const Tensor& dx);
void conv2d_backward_weight(const Tensor& dout, const Tensor& x, const Conv2dParams& p, const Tensor& dweight);
void conv2d_backward_bias(const Tensor& dout, const Tensor& dbias);
}  // namespace cuda

}  // namespace dybat
