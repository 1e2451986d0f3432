// The statistics of a sweep's report: mean and sample standard deviation over seeds, the first
// epoch a run reaches a target, and a metric read off a run's curve at a given wall time.
#pragma once

#include <limits>
#include <vector>

namespace dybat {

struct MeanStd {
  double mean = std::numeric_limits<double>::quiet_NaN();
  // The sample standard deviation, sqrt(sum (x - mean)^2 / (n - 1)); NaN when n < 2.
  double std = std::numeric_limits<double>::quiet_NaN();
  int n = 0;
};
// Over the finite values of `v` (NaN entries, e.g. a seed that never reached a target, are left out).
MeanStd mean_std(const std::vector<double>& v);

// The epoch of the first evaluation whose value is at least `target` (the rows as measured, not
// interpolated between evaluations); NaN when none reaches it. `epochs` and `values` pair up.
double epochs_to_reach(const std::vector<double>& epochs, const std::vector<double>& values, double target);

// The piecewise-linear curve through (x[i], y[i]) (x increasing) at `at`: linear between the
// points around it, y's last value past the last point (the run had ended), NaN before the first
// point (nothing was measured yet) or when the curve is empty.
double value_at(const std::vector<double>& x, const std::vector<double>& y, double at);

}  // namespace dybat
