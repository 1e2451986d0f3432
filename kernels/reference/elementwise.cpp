// Elementwise arithmetic with broadcasting, the reference. Shapes are aligned at their last
// axis; a missing leading axis counts as size 1, and an axis of size 1 stretches to the other
// shape's size (the same element is reused). So out[idx] = a[idx_a] op b[idx_b], where idx_a is
// idx with every axis along which a was stretched set to 0.
//
// Derivatives: add (1, 1), sub (1, -1), mul (b, a), div (1/b, -a/b^2). The backward adds
// dout * d(op)/da into da[idx_a]: an element reused along a stretched axis collects the sum of
// the gradients of every output it made.
#include "kernels/reference/elementwise.h"

#include <cstddef>
#include <stdexcept>

namespace dybat::ref {

Dims broadcast_dims(const Dims& a, const Dims& b) {
  const size_t rank = a.size() > b.size() ? a.size() : b.size();
  Dims out(rank);
  for (size_t k = 0; k < rank; ++k) {  // k counts axes from the last one
    const int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1, db = k < b.size() ? b[b.size() - 1 - k] : 1;
    if (da != db && da != 1 && db != 1) throw std::invalid_argument("shapes do not broadcast");
    out[rank - 1 - k] = da == 1 ? db : da;
  }
  return out;
}

int64_t element_count(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t broadcast_index(const Dims& out, const Dims& in, int64_t flat) {
  int64_t index = 0, stride = 1;  // stride of the current axis of `in`
  for (size_t k = 0; k < in.size(); ++k) {
    const int64_t out_size = out[out.size() - 1 - k], in_size = in[in.size() - 1 - k];
    const int64_t coordinate = flat % out_size;
    flat /= out_size;
    if (in_size != 1) index += coordinate * stride;  // a stretched axis always reads element 0
    stride *= in_size;
  }
  return index;
}

namespace {
double apply(Binary op, double a, double b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
  }
  return a;
}
}  // namespace

void binary_forward(Binary op, const Dims& a_dims, const double* a, const Dims& b_dims, const double* b, double* out) {
  const Dims out_dims = broadcast_dims(a_dims, b_dims);
  for (int64_t i = 0; i < element_count(out_dims); ++i)
    out[i] = apply(op, a[broadcast_index(out_dims, a_dims, i)], b[broadcast_index(out_dims, b_dims, i)]);
}

void binary_backward(Binary op, const Dims& a_dims, const double* a, const Dims& b_dims, const double* b,
                     const double* dout, double* da, double* db) {
  const Dims out_dims = broadcast_dims(a_dims, b_dims);
  for (int64_t i = 0; i < element_count(out_dims); ++i) {
    const int64_t ia = broadcast_index(out_dims, a_dims, i), ib = broadcast_index(out_dims, b_dims, i);
    const double x = a[ia], y = b[ib];
    double dx = 1.0, dy = 1.0;  // d(op)/da and d(op)/db
    switch (op) {
      case Binary::Add: break;
      case Binary::Sub: dy = -1.0; break;
      case Binary::Mul: dx = y, dy = x; break;
      case Binary::Div: dx = 1.0 / y, dy = -x / (y * y); break;
    }
    da[ia] += dout[i] * dx;
    db[ib] += dout[i] * dy;
  }
}

}  // namespace dybat::ref
