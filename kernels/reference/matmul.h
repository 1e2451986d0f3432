// Matrix products and linear layers, the reference: plain triple loops in double (matmul.cpp).
// The fast versions are kernels/matmul_cpu.cpp (OpenBLAS) and kernels/matmul.cu (cuBLAS).
// Conventions: see conv2d.h (flat row-major double arrays, forward assigns, backward adds).
#pragma once

#include <cstdint>

namespace dybat::ref {

// out [rows, cols] = a [rows, inner] times b [inner, cols].
void matmul_forward(int64_t rows, int64_t inner, int64_t cols, const double* a, const double* b, double* out);
// Adds da [rows, inner] = dout b^T and db [inner, cols] = a^T dout.
void matmul_backward(int64_t rows, int64_t inner, int64_t cols, const double* dout, const double* a, const double* b,
                     double* da, double* db);

// A linear layer: out [batch, out_features] = inp [batch, in_features] weight^T + bias, with
// weight [out_features, in_features] and bias [out_features] (may be null).
void linear_forward(int64_t batch, int64_t in_features, int64_t out_features, const double* inp, const double* weight,
                    const double* bias, double* out);
// Adds dinp = dout weight, dweight = dout^T inp and dbias = the sum of dout over the batch; dinp
// and dbias may be null (not needed).
void linear_backward(int64_t batch, int64_t in_features, int64_t out_features, const double* dout, const double* inp,
                     const double* weight, double* dinp, double* dweight, double* dbias);

// BLAS's contract: c [m, n] = alpha op(a) op(b) + beta c, op(a) [m, k] and op(b) [k, n], where
// op transposes when its flag is set (a is then stored [k, m], b [n, k]). With beta = 0, c is
// only written (whatever it held is ignored).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, const double* b,
          double beta, double* c);

}  // namespace dybat::ref
