// The gradient checker (see gradcheck.h).
#include "kernels/gradcheck.h"

#include <cmath>
#include <sstream>

#include "core/allocator.h"
#include "core/autograd.h"

namespace dybat {

namespace {
double dot(const Tensor& a, const Tensor& b) {
  Tensor ac = a.contiguous(), bc = b.contiguous();
  const double* pa = ac.data<double>();
  const double* pb = bc.data<double>();
  double s = 0.0;
  for (int64_t i = 0; i < ac.numel(); ++i) s += pa[i] * pb[i];
  return s;
}

// Restores the junk-fill flag on scope exit.
struct JunkFillScope {
  bool prev = junk_fill();
  JunkFillScope() { set_junk_fill(true); }
  ~JunkFillScope() { set_junk_fill(prev); }
};
}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  for (const Tensor& t : inputs) {
    DYBAT_CHECK(!t.defined() || (t.dtype() != DType::Float32 && t.device().is_cpu()),
                "gradcheck needs float64 CPU inputs (integer inputs such as labels are allowed)");
  }
  JunkFillScope junk;
  GradcheckResult res;
  Generator gen(opt.seed);

  // Analytic gradients of <g, y>, with junk pre-filled into every .grad.
  Tensor y = f(inputs);
  DYBAT_CHECK(y.dtype() == DType::Float64, "gradcheck: the function must return float64");
  Tensor g = Tensor::uniform(y.shape(), -1.0, 1.0, gen, DType::Float64);
  std::vector<Tensor> junk_vals(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    junk_vals[i] = Tensor::uniform(x.shape(), 5.0, 9.0, gen, DType::Float64);
    x.set_grad(junk_vals[i].clone());
  }
  y.backward(g);

  std::ostringstream report;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    DYBAT_CHECK(x.is_contiguous(), "gradcheck: inputs must be contiguous");
    Tensor analytic = x.grad().defined() ? x.grad().clone() : Tensor::zeros(x.shape(), DType::Float64);
    std::vector<double> a = analytic.to_vector<double>(), j = junk_vals[i].to_vector<double>();
    double* px = x.data<double>();
    double max_abs = 0.0;
    for (int64_t e = 0; e < x.numel(); ++e) {
      double orig = px[e];
      double lp, lm;
      {
        NoGradGuard ng;
        px[e] = orig + opt.eps;
        lp = dot(f(inputs), g);
        px[e] = orig - opt.eps;
        lm = dot(f(inputs), g);
        px[e] = orig;
      }
      double numeric = (lp - lm) / (2 * opt.eps);
      double an = a[e] - j[e];
      double err = std::fabs(an - numeric);
      double excess = std::isfinite(an) ? err - (opt.atol + opt.rtol * std::fabs(numeric)) : INFINITY;
      if (excess > 0) res.ok = false;
      if (res.worst_where.empty() || excess > res.worst_error) {
        res.worst_error = excess;
        std::ostringstream w;
        w.precision(10);
        w << "input " << i << " element " << e << ": analytic " << an << " numeric " << numeric;
        res.worst_where = w.str();
      }
      max_abs = std::max(max_abs, err);
    }
    report << "input " << i << " " << shape_str(x.shape()) << ": " << x.numel() << " elements, max abs error "
           << max_abs << "\n";
    x.set_grad(Tensor());
  }
  res.report = report.str();
  return res;
}

}  // namespace dybat
