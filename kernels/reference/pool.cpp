// Pooling, the reference. Each (image, channel) plane is pooled on its own.
//
// Windowed pools: output cell (y, x) covers input rows y * stride_h - pad_h + [0, kernel_h) and
// columns x * stride_w - pad_w + [0, kernel_w); cells outside the plane are padding.
//   max: padding is -infinity (never chosen). The window is scanned in row-major order and a
//        cell replaces the best so far only when strictly greater, so ties go to the FIRST
//        maximum (a ReLU output's all-zero window sends its gradient to its top-left real cell);
//        a NaN wins and then stays. Backward: the gradient goes to that one cell.
//   avg: sum of the real cells / (kernel_h * kernel_w). Backward: each window spreads its
//        gradient evenly over its real cells, 1 / (kernel_h * kernel_w) each.
// Adaptive average: output row y of out_h averages input rows [floor(y * in_h / out_h),
// ceil((y + 1) * in_h / out_h)), and likewise for columns; the backward spreads evenly.
#include "kernels/reference/pool.h"

#include <cmath>

namespace dybat::ref {

void max_pool2d_forward(const Pool2dShape& s, const double* inp, double* out, int64_t* argmax) {
  const int64_t out_h = s.out_h(), out_w = s.out_w();
  for (int64_t plane = 0; plane < s.batch * s.channels; ++plane)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < out_w; ++x) {
        double best = 0.0;
        int64_t best_at = -1;  // -1: no real cell seen yet
        for (int64_t i = 0; i < s.kernel_h; ++i)
          for (int64_t j = 0; j < s.kernel_w; ++j) {
            const int64_t row = y * s.stride_h - s.pad_h + i, col = x * s.stride_w - s.pad_w + j;
            if (row < 0 || row >= s.in_h || col < 0 || col >= s.in_w) continue;  // padding
            const double v = inp[plane * s.in_h * s.in_w + row * s.in_w + col];
            if (best_at < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
              best = v;
              best_at = row * s.in_w + col;
            }
          }
        out[(plane * out_h + y) * out_w + x] = best;
        argmax[(plane * out_h + y) * out_w + x] = best_at;
      }
}

void max_pool2d_backward(const Pool2dShape& s, const double* dout, const int64_t* argmax, double* dinp) {
  const int64_t per_plane = s.out_h() * s.out_w();
  for (int64_t plane = 0; plane < s.batch * s.channels; ++plane)
    for (int64_t o = 0; o < per_plane; ++o)
      dinp[plane * s.in_h * s.in_w + argmax[plane * per_plane + o]] += dout[plane * per_plane + o];
}

namespace {
// Calls cell(out_index, inp_index) for every real input cell of every average-pool window.
template <class Cell>
void for_each_window_cell(const Pool2dShape& s, Cell&& cell) {
  const int64_t out_h = s.out_h(), out_w = s.out_w();
  for (int64_t plane = 0; plane < s.batch * s.channels; ++plane)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < out_w; ++x)
        for (int64_t i = 0; i < s.kernel_h; ++i)
          for (int64_t j = 0; j < s.kernel_w; ++j) {
            const int64_t row = y * s.stride_h - s.pad_h + i, col = x * s.stride_w - s.pad_w + j;
            if (row < 0 || row >= s.in_h || col < 0 || col >= s.in_w) continue;  // padding adds 0
            cell((plane * out_h + y) * out_w + x, plane * s.in_h * s.in_w + row * s.in_w + col);
          }
}
}  // namespace

void avg_pool2d_forward(const Pool2dShape& s, const double* inp, double* out) {
  const double divisor = static_cast<double>(s.kernel_h * s.kernel_w);
  for (int64_t o = 0; o < s.batch * s.channels * s.out_h() * s.out_w(); ++o) out[o] = 0.0;
  for_each_window_cell(s, [&](int64_t o, int64_t i) { out[o] += inp[i]; });
  for (int64_t o = 0; o < s.batch * s.channels * s.out_h() * s.out_w(); ++o) out[o] /= divisor;
}

void avg_pool2d_backward(const Pool2dShape& s, const double* dout, double* dinp) {
  const double divisor = static_cast<double>(s.kernel_h * s.kernel_w);
  for_each_window_cell(s, [&](int64_t o, int64_t i) { dinp[i] += dout[o] / divisor; });
}

namespace {
// Rows (or columns) [begin, end) of the input that output row `o` of `out` averages over `in`.
int64_t window_begin(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }                 // floor
int64_t window_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }  // ceil

// Calls cell(out_index, inp_index, 1 / window size) for every input cell of every output cell.
template <class Cell>
void for_each_adaptive_cell(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, Cell&& cell) {
  for (int64_t plane = 0; plane < planes; ++plane)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < out_w; ++x) {
        const int64_t r0 = window_begin(y, in_h, out_h), r1 = window_end(y, in_h, out_h);
        const int64_t c0 = window_begin(x, in_w, out_w), c1 = window_end(x, in_w, out_w);
        const double weight = 1.0 / static_cast<double>((r1 - r0) * (c1 - c0));
        for (int64_t row = r0; row < r1; ++row)
          for (int64_t col = c0; col < c1; ++col)
            cell((plane * out_h + y) * out_w + x, (plane * in_h + row) * in_w + col, weight);
      }
}
}  // namespace

void adaptive_avg_pool2d_forward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                                 const double* inp, double* out) {
  for (int64_t o = 0; o < planes * out_h * out_w; ++o) out[o] = 0.0;
  for_each_adaptive_cell(planes, in_h, in_w, out_h, out_w, [&](int64_t o, int64_t i, double w) { out[o] += w * inp[i]; });
}

void adaptive_avg_pool2d_backward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                                  const double* dout, double* dinp) {
  for_each_adaptive_cell(planes, in_h, in_w, out_h, out_w,
                         [&](int64_t o, int64_t i, double w) { dinp[i] += w * dout[o]; });
}

}  // namespace dybat::ref
