// Sweep statistics (see sweep_stats.h).
#include "train/sweep_stats.h"

#include <algorithm>
#include <cmath>

namespace dybat {

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd r;
  double sum = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      sum += x;
      ++r.n;
    }
  if (r.n == 0) return r;
  r.mean = sum / r.n;
  if (r.n < 2) return r;
  double ss = 0;  // two passes: the deviations from the mean, not sum x^2 - n mean^2, which cancels
  for (double x : v)
    if (std::isfinite(x)) ss += (x - r.mean) * (x - r.mean);
  r.std = std::sqrt(ss / (r.n - 1));
  return r;
}

double epochs_to_reach(const std::vector<double>& epochs, const std::vector<double>& values, double target) {
  for (size_t i = 0; i < epochs.size() && i < values.size(); ++i)
    if (values[i] >= target) return epochs[i];
  return std::numeric_limits<double>::quiet_NaN();
}

double value_at(const std::vector<double>& x, const std::vector<double>& y, double at) {
  const size_t n = std::min(x.size(), y.size());
  if (n == 0 || !(at >= x[0])) return std::numeric_limits<double>::quiet_NaN();
  for (size_t i = 1; i < n; ++i)
    if (at <= x[i]) {
      const double span = x[i] - x[i - 1];
      const double t = span > 0 ? (at - x[i - 1]) / span : 1.0;
      return y[i - 1] + t * (y[i] - y[i - 1]);
    }
  return y[n - 1];
}

}  // namespace dybat
