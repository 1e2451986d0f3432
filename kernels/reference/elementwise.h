// Elementwise arithmetic with NumPy broadcasting, the reference, in plain loops in double
// (elementwise.cpp). The fast versions are kernels/elementwise_cpu.cpp and kernels/elementwise.cu.
// Conventions: see conv2d.h (flat row-major double arrays, forward assigns, backward adds).
#pragma once

#include <cstdint>
#include <vector>

namespace dybat::ref {

using Dims = std::vector<int64_t>;  // a shape, outermost axis first

enum class Binary { Add, Sub, Mul, Div };

// The broadcast shape of a and b (throws std::invalid_argument when they do not broadcast).
Dims broadcast_dims(const Dims& a, const Dims& b);
int64_t element_count(const Dims& dims);
// The flat index into a tensor of shape `in`, broadcast to `out`, of the element that lands at
// flat index `flat` of `out`.
int64_t broadcast_index(const Dims& out, const Dims& in, int64_t flat);

// out [broadcast_dims(a_dims, b_dims)] = a op b.
void binary_forward(Binary op, const Dims& a_dims, const double* a, const Dims& b_dims, const double* b, double* out);
// Adds the gradients of <dout, out> into da [a_dims] and db [b_dims].
void binary_backward(Binary op, const Dims& a_dims, const double* a, const Dims& b_dims, const double* b,
                     const double* dout, double* da, double* db);

}  // namespace dybat::ref
