// The gradient checker of the reference tier, on vectors of doubles: the reference's backwards
// are checked against central differences of its forwards, exactly as kernels/gradcheck.h checks
// the Tensor ops. For y = forward(inputs) and L = <g, y> with a fixed random g, the gradient that
// backward(inputs, g, grads) ADDS into grads must match
//   dL/dx_j ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)
// within atol + rtol |numeric| for every element of every checked input. grads start filled with
// junk (and the junk is subtracted after), so a backward that assigns where it must add shows.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace dybat::test {

using Vectors = std::vector<std::vector<double>>;

struct RefGradcheckOptions {
  double eps = 1e-6;
  double rtol = 1e-5;
  double atol = 1e-7;
  std::vector<bool> checked;  // which inputs to check (empty: all)
};

struct RefGradcheckResult {
  bool ok = true;
  std::string worst;  // "input 1 element 17: analytic 0.5 numeric 0.49"
};

RefGradcheckResult ref_gradcheck(const std::function<std::vector<double>(const Vectors& inputs)>& forward,
                                 const std::function<void(const Vectors& inputs, const std::vector<double>& dout,
                                                          Vectors& grads)>& backward,
                                 const Vectors& inputs, const RefGradcheckOptions& opt = {});

}  // namespace dybat::test

#define EXPECT_REF_GRADCHECK(forward, backward, inputs, ...)                             \
  do {                                                                                   \
    auto _r = ::dybat::test::ref_gradcheck(forward, backward, inputs, ##__VA_ARGS__);    \
    EXPECT_TRUE(_r.ok) << "worst: " << _r.worst;                                         \
  } while (0)
