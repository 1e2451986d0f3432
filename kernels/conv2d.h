// 2-d convolution (cross-correlation, as PyTorch's conv2d), any stride, padding, dilation and
// groups (depthwise included).
//
// Contract
//   x [N, C_in, H, W], weight [C_out, C_in/groups, kH, kW], bias [C_out] or undefined.
//   out [N, C_out, H_out, W_out], H_out = (H + 2 pad_h - dil_h (kH-1) - 1) / stride_h + 1.
//   All contiguous NCHW (the op makes inputs contiguous). float32 and float64 on both devices;
//   bfloat16 (mixed precision: bf16 data, float32 accumulation) on CUDA only.
//   Saved for backward: x and weight.
//   dx = conv_transpose(dout, weight) (assigned); dweight += correlation of x with dout and
//   dbias += sum of dout over N, H, W (accumulated into the leaf's .grad).
//   CPU: im2col + GEMM for dense and grouped convolutions (1x1 stride-1 unpadded ones skip im2col),
//   in batch chunks of bounded memory; a direct loop for depthwise (groups == C_in == C_out).
//   CUDA: cuDNN, with the algorithm chosen once per geometry (by cuDNN's heuristics, or measured
//   when backend_settings().conv_algo is Measure; only deterministic ones under
//   backend_settings().deterministic), workspace from the caching allocator up to
//   backend_settings().workspace_limit_bytes; TF32 only when backend_settings().tf32_conv.
//   The choices are recorded (conv2d_algorithms) so a checkpoint can keep them and a resumed run
//   can import them and run the very same kernels.
//   Reference: kernels/reference/conv2d.cpp. Fast kernels: kernels/conv2d_cpu.cpp (with
//   im2col_cpu.h and gemm_cpu.h) and kernels/conv2d.cu.
#pragma once

#include <string>
#include <vector>

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

// ---- the record of cuDNN algorithm choices --------------------------------------------------------
// One geometry's choices. key: dtype, requested math mode, determinism flag, the parameters
// (stride, padding, dilation, groups) and the shapes of x and weight, as conv2d.cu builds it (the
// device index is not part of it, so a run resumed on another device of the same kind reuses the
// choices). Per direction (forward, backward data, backward filter): the cuDNN algorithm id and
// the cudnnMathType_t it runs with, -1 where that direction has not been chosen.
struct ConvAlgoRecord {
  std::vector<int64_t> key;
  int algo[3] = {-1, -1, -1};
  int math[3] = {-1, -1, -1};
  bool operator==(const ConvAlgoRecord& o) const;
};

// Every choice made or imported in this process, ordered by key (empty without CUDA work).
std::vector<ConvAlgoRecord> conv2d_algorithms();
// Makes later geometries with these keys use the recorded choices (each still checked with cuDNN;
// one it rejects is chosen afresh). Directions given as -1 keep any existing choice.
void import_conv2d_algorithms(const std::vector<ConvAlgoRecord>& records);
// Forgets every recorded choice; for tests. Both this and import make geometries planned before
// choose again at their next call (kernels/conv2d_choice.h).
void clear_conv2d_algorithms();
// A checkpoint carries the record as text: train/checkpoint_algos.h.

namespace detail {
// Used by conv2d.cu: the recorded (algo, math) of one direction of a geometry, if a new choice is
// to honour it (imported, or chosen here under the current conditions: conv2d_choice.h), and
// storing one.
bool find_conv2d_algorithm(const std::vector<int64_t>& key, int direction, int& algo, int& math);
void store_conv2d_algorithm(const std::vector<int64_t>& key, int direction, int algo, int math);
}  // namespace detail

}  // namespace dybat
