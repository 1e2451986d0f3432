// The reference tier's gradient checker (see reference_gradcheck.h).
#include "support/reference_gradcheck.h"

#include <cmath>
#include <random>
#include <sstream>

namespace dybat::test {

RefGradcheckResult ref_gradcheck(const std::function<std::vector<double>(const Vectors& inputs)>& forward,
                                 const std::function<void(const Vectors& inputs, const std::vector<double>& dout,
                                                          Vectors& grads)>& backward,
                                 const Vectors& inputs, const RefGradcheckOptions& opt) {
  constexpr double kJunk = 0.375;
  std::mt19937_64 rng(1234);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> g(forward(inputs).size());
  for (double& e : g) e = uniform(rng);
  auto loss = [&](const Vectors& in) {
    const std::vector<double> y = forward(in);
    double l = 0.0;
    for (size_t i = 0; i < y.size(); ++i) l += g[i] * y[i];
    return l;
  };

  Vectors grads;
  for (const auto& in : inputs) grads.emplace_back(in.size(), kJunk);
  backward(inputs, g, grads);

  RefGradcheckResult r;
  double worst = -INFINITY;
  Vectors probe = inputs;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!opt.checked.empty() && !opt.checked[k]) continue;
    for (size_t j = 0; j < inputs[k].size(); ++j) {
      probe[k][j] = inputs[k][j] + opt.eps;
      const double up = loss(probe);
      probe[k][j] = inputs[k][j] - opt.eps;
      const double down = loss(probe);
      probe[k][j] = inputs[k][j];
      const double numeric = (up - down) / (2.0 * opt.eps), analytic = grads[k][j] - kJunk;
      const double excess = std::fabs(analytic - numeric) - (opt.atol + opt.rtol * std::fabs(numeric));
      if (excess > worst || std::isnan(analytic)) {
        worst = std::isnan(analytic) ? INFINITY : excess;
        std::ostringstream where;
        where << "input " << k << " element " << j << ": analytic " << analytic << " numeric " << numeric;
        r.worst = where.str();
      }
    }
  }
  r.ok = worst <= 0.0;
  return r;
}

}  // namespace dybat::test
