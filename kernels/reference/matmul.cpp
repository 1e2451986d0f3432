// Matrix products and linear layers, the reference:
//   matmul:  out[r, c] = sum_i a[r, i] b[i, c];  da = dout b^T,  db = a^T dout
//   linear:  out[n, o] = bias[o] + sum_i inp[n, i] weight[o, i]
//            dinp = dout weight,  dweight = dout^T inp,  dbias[o] = sum_n dout[n, o]
#include "kernels/reference/matmul.h"

namespace dybat::ref {

void matmul_forward(int64_t rows, int64_t inner, int64_t cols, const double* a, const double* b, double* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      double sum = 0.0;
      for (int64_t i = 0; i < inner; ++i) sum += a[r * inner + i] * b[i * cols + c];
      out[r * cols + c] = sum;
    }
}

void matmul_backward(int64_t rows, int64_t inner, int64_t cols, const double* dout, const double* a, const double* b,
                     double* da, double* db) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        da[r * inner + i] += dout[r * cols + c] * b[i * cols + c];
        db[i * cols + c] += a[r * inner + i] * dout[r * cols + c];
      }
}

void linear_forward(int64_t batch, int64_t in_features, int64_t out_features, const double* inp, const double* weight,
                    const double* bias, double* out) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t o = 0; o < out_features; ++o) {
      double sum = bias ? bias[o] : 0.0;
      for (int64_t i = 0; i < in_features; ++i) sum += inp[n * in_features + i] * weight[o * in_features + i];
      out[n * out_features + o] = sum;
    }
}

void linear_backward(int64_t batch, int64_t in_features, int64_t out_features, const double* dout, const double* inp,
                     const double* weight, double* dinp, double* dweight, double* dbias) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t o = 0; o < out_features; ++o) {
      const double d = dout[n * out_features + o];
      if (dbias) dbias[o] += d;
      for (int64_t i = 0; i < in_features; ++i) {
        if (dinp) dinp[n * in_features + i] += d * weight[o * in_features + i];
        dweight[o * in_features + i] += d * inp[n * in_features + i];
      }
    }
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, const double* b,
          double beta, double* c) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t col = 0; col < n; ++col) {
      double sum = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        const double a_ri = trans_a ? a[i * m + r] : a[r * k + i];      // op(a)[r, i]
        const double b_ic = trans_b ? b[col * k + i] : b[i * n + col];  // op(b)[i, col]
        sum += a_ri * b_ic;
      }
      c[r * n + col] = alpha * sum + (beta == 0.0 ? 0.0 : beta * c[r * n + col]);
    }
}

}  // namespace dybat::ref
