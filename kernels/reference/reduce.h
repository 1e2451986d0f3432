// Sums and means over axes, the reference, in plain loops in double (reduce.cpp). The fast
// versions are kernels/reduce_cpu.cpp and kernels/reduce.cu. Conventions: see conv2d.h.
#pragma once

#include <vector>

#include "kernels/reference/elementwise.h"

namespace dybat::ref {

// out = scale * the sum of inp [dims] over the axes marked in `reduced` (scale = 1 / count for
// a mean). out has dims with every reduced axis set to 1.
void sum_forward(const Dims& dims, const std::vector<bool>& reduced, double scale, const double* inp, double* out);
// Adds scale * dout (broadcast back over the reduced axes) into dinp [dims].
void sum_backward(const Dims& dims, const std::vector<bool>& reduced, double scale, const double* dout, double* dinp);
// The shape of out: dims with each reduced axis set to 1.
Dims reduced_dims(const Dims& dims, const std::vector<bool>& reduced);

}  // namespace dybat::ref
