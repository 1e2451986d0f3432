// The gradient checker every op is tested with.
//
// For f: inputs -> one output y, it compares, for every input that requires a gradient, the
// autograd gradient of the scalar L = <g, y> (g random, fixed) with central finite differences
//   dL/dx_j ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)
// computed in float64. An element passes when |analytic - numeric| <= atol + rtol |numeric|.
// To expose "=" versus "+=" mistakes, each input's .grad is pre-filled with junk J (and the
// analytic gradient taken as .grad - J), and fresh allocations are junk-filled during the check
// (see set_junk_fill), so a kernel that reads memory it should only write shows as NaN.
// Inputs must be float64 CPU tensors; the caller keeps them away from kinks (finite differences
// cannot see a kink; kinks get exact tests of their own).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dybat {

struct GradcheckOptions {
  double eps = 1e-6;
  double rtol = 1e-5;
  double atol = 1e-7;
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  double worst_error = 0.0;  // largest |analytic - numeric| - (atol + rtol |numeric|) seen, <= 0 when ok
  std::string worst_where;   // "input 1 element 17: analytic 0.5 numeric 0.49"
  std::string report;        // one line per input: elements checked, max abs error
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

}  // namespace dybat
