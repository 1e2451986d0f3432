// 2-d convolution, the reference. PyTorch's conv2d is a cross-correlation (no kernel flip):
//
//   out[n, o, y, x] = bias[o] + sum over c < C_in/groups, i < kernel_h, j < kernel_w of
//       inp[n, g * C_in/groups + c, y * stride_h - pad_h + i * dilation_h, x * stride_w - pad_w + j * dilation_w]
//       * weight[o, c, i, j]
//
// where g = o / (C_out/groups) is the group of output channel o, and input cells outside the
// image are the zero padding (they add nothing, so they are skipped).
//
// The backward walks the same products: each term inp * weight of out[n, o, y, x] sends
// dout[n, o, y, x] * weight to dinp and dout[n, o, y, x] * inp to dweight; dbias[o] is the sum of
// dout[n, o, :, :] over the batch.
#include "kernels/reference/conv2d.h"

namespace dybat::ref {

namespace {

// Calls term(out_index, inp_index, weight_index) for every product in the definition above that
// reads a real (not padded) input cell, in the order of the sum.
template <class Term>
void for_each_term(const Conv2dShape& s, Term&& term) {
  const int64_t out_h = s.out_h(), out_w = s.out_w();
  const int64_t in_per_group = s.in_channels / s.groups, out_per_group = s.out_channels / s.groups;
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t y = 0; y < out_h; ++y)
        for (int64_t x = 0; x < out_w; ++x) {
          const int64_t out_index = ((n * s.out_channels + o) * out_h + y) * out_w + x;
          for (int64_t c = 0; c < in_per_group; ++c) {
            const int64_t in_channel = (o / out_per_group) * in_per_group + c;
            for (int64_t i = 0; i < s.kernel_h; ++i)
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t row = y * s.stride_h - s.pad_h + i * s.dilation_h;
                const int64_t col = x * s.stride_w - s.pad_w + j * s.dilation_w;
                if (row < 0 || row >= s.in_h || col < 0 || col >= s.in_w) continue;  // zero padding
                const int64_t inp_index = ((n * s.in_channels + in_channel) * s.in_h + row) * s.in_w + col;
                const int64_t weight_index = ((o * in_per_group + c) * s.kernel_h + i) * s.kernel_w + j;
                term(out_index, inp_index, weight_index);
              }
          }
        }
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const double* inp, const double* weight, const double* bias, double* out) {
  const int64_t plane = s.out_h() * s.out_w();  // output values per (image, channel)
  // out [batch, out_channels, out_h, out_w] starts at the bias of its channel.
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t p = 0; p < plane; ++p) out[(n * s.out_channels + o) * plane + p] = bias ? bias[o] : 0.0;
  for_each_term(s, [&](int64_t out_index, int64_t inp_index, int64_t weight_index) {
    out[out_index] += inp[inp_index] * weight[weight_index];
  });
}

void conv2d_backward(const Conv2dShape& s, const double* dout, const double* inp, const double* weight, double* dinp,
                     double* dweight, double* dbias) {
  for_each_term(s, [&](int64_t out_index, int64_t inp_index, int64_t weight_index) {
    dinp[inp_index] += dout[out_index] * weight[weight_index];
    dweight[weight_index] += dout[out_index] * inp[inp_index];
  });
  if (!dbias) return;
  const int64_t plane = s.out_h() * s.out_w();
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t p = 0; p < plane; ++p) dbias[o] += dout[(n * s.out_channels + o) * plane + p];
}

}  // namespace dybat::ref
