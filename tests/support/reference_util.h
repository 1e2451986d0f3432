// The bridge between the Tensor-based tests and the reference tier (kernels/reference/), which
// works on flat vectors of doubles: each function here takes the tensors and parameters of a
// fast op's call, runs the reference on their float64 values and returns float64 CPU tensors, so
// a test compares a fast kernel (CPU or CUDA) with the definition in one line. Gradients start
// at zero (the reference adds into them).
#pragma once

#include <vector>

#include "core/tensor.h"
#include "kernels/activation_math.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/pool.h"
#include "kernels/reference/activation.h"
#include "kernels/reference/batchnorm.h"
#include "kernels/reference/conv2d.h"
#include "kernels/reference/elementwise.h"
#include "kernels/reference/pool.h"

namespace dybat::test {

// The reference's names for the fast ops' parameters.
ref::Activation ref_activation(Act act);
ref::Conv2dShape ref_conv_shape(const Shape& x, const Shape& weight, const Conv2dParams& p);
ref::Pool2dShape ref_pool_shape(const Shape& x, const Pool2dParams& p);
ref::Binary ref_binary(BinaryOp op);
ref::Dims ref_dims(const Shape& s);

// act(x), and dout * act'(x).
Tensor ref_activation_forward(const Tensor& x, Act act);
Tensor ref_activation_backward(const Tensor& dout, const Tensor& x, Act act);

// The fused batch norm out = act(BN(x) + residual) composed from the reference's batch norm and
// activation, in the mode `opt` says; running_mean/var are updated copies (undefined when not
// given). With dout defined, the gradients of <dout, out> too (dresidual only with a residual).
struct RefBatchNorm {
  Tensor out, running_mean, running_var, dx, dgamma, dbeta, dresidual;
};
RefBatchNorm ref_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, const BatchNormOptions& opt, const Tensor& residual = {},
                            const Tensor& dout = {});

// conv2d and, with dout defined, its three gradients (db only with a bias).
struct RefConv {
  Tensor out, dx, dw, db;
};
RefConv ref_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, const Tensor& dout = {});

// Pooling: outputs, max pooling's argmax (int64, index into the input plane), and with dout
// defined the input gradient.
struct RefPool {
  Tensor out, argmax, dx;
};
RefPool ref_max_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& dout = {});
RefPool ref_avg_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& dout = {});
RefPool ref_adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w, const Tensor& dout = {});

// Matrix products. gemm returns alpha op(a) op(b) + beta c (c is not changed).
Tensor ref_gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
                const Tensor& c);
struct RefLinear {
  Tensor out, dx, dw, db;
};
RefLinear ref_linear(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dout = {});
RefLinear ref_matmul(const Tensor& a, const Tensor& b, const Tensor& dout = {});  // dx = da, dw = db

// Per-sample cross-entropy and, with dlosses defined, dlogits.
struct RefLoss {
  Tensor losses, dlogits;
};
RefLoss ref_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& dlosses = {});

// Dropout of x's elements with the stream (seed, offset). Applied to dout it is also the gradient
// (the same mask and scale).
Tensor ref_dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset);

// a op b with broadcasting, and with dout defined the two gradients (out, da, db).
std::vector<Tensor> ref_binary_op(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& dout = {});
// scale * the sum of x over `dims` (empty: all), keeping the reduced axes as size 1.
Tensor ref_sum(const Tensor& x, const std::vector<int64_t>& dims, double scale = 1.0);

}  // namespace dybat::test
