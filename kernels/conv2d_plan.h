// cuDNN plans of conv2d (include from .cu files only): per geometry, its descriptors and, per
// direction, the algorithm chosen with its workspace. kernels/conv2d_plan.cu builds and chooses;
// kernels/conv2d.cu runs the convolutions.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_choice.h"

namespace dybat::cuda {

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  // One convolution descriptor per direction: each carries the math type of its chosen algorithm.
  cudnnConvolutionDescriptor_t conv[3] = {nullptr, nullptr, nullptr};
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // the requested math mode (part of the key)
  // Per direction: whether a choice was made, under which settings and record generation (a
  // different current stamp makes the next call choose again), whether it found a usable
  // algorithm, and which (with its workspace).
  bool chosen[3] = {false, false, false};
  ConvChoiceStamp stamp[3];
  bool usable[3] = {false, false, false};
  int algo[3] = {0, 0, 0};
  size_t workspace[3] = {0, 0, 0};
  std::vector<int64_t> record_key;  // the geometry's key in the record of choices (no device)

  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan();
};

// What one launcher needs from a plan (the plan itself lives in the cache for the process).
// usable = false: cuDNN offers no algorithm for this direction under the settings (algo and
// workspace are then meaningless); the launcher applies conv_no_algorithm_action.
struct PlanView {
  const ConvPlan* plan;
  bool usable;
  int algo;
  size_t workspace;
};

// The plan of (x [N, C, H, W], w, y) under the current settings, with direction d's algorithm
// chosen (again, when the settings or the record changed since the last choice). (x, w, y) are the
// operands as cuDNN names them for the forward direction: for backward data x is dx, for backward
// filter w is dweight; their values matter only when measuring.
PlanView plan_for(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p, int d);

// The error for a direction without a usable algorithm, naming the settings that limited it.
std::string no_algorithm_message(int d);

}  // namespace dybat::cuda
