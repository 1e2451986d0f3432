// Sums and means: device dispatch, autograd and sum_to_shape.
#include "kernels/reduce.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/elementwise.h"

namespace dybat {

void sum_forward(const Tensor& x, const std::vector<bool>& reduce_mask, double scale, const Tensor& out) {
  DYBAT_CHECK(reduce_mask.size() == static_cast<size_t>(x.dim()), "sum: mask has ", reduce_mask.size(),
              " entries for a ", x.dim(), "-d tensor");
  DYBAT_CHECK(out.is_contiguous(), "sum: output must be contiguous");
  DYBAT_DISPATCH_DEVICE(out.device(), sum_forward, x, reduce_mask, scale, out);
}

namespace {

Tensor reduce(const Tensor& x, std::vector<int64_t> dims, bool keepdim, bool is_mean) {
  int64_t n = x.dim();
  std::vector<bool> mask(n, dims.empty());
  for (int64_t d : dims) {
    int64_t dd = d < 0 ? d + n : d;
    DYBAT_CHECK(dd >= 0 && dd < n, "sum/mean: dim ", d, " out of range for shape ", shape_str(x.shape()));
    mask[dd] = true;
  }
  Shape kept_shape, out_shape;  // kept_shape: reduced axes as 1 (keepdim form)
  int64_t count = 1;
  for (int64_t d = 0; d < n; ++d) {
    kept_shape.push_back(mask[d] ? 1 : x.size(d));
    if (mask[d])
      count *= x.size(d);
    else
      out_shape.push_back(x.size(d));
  }
  double scale = is_mean ? 1.0 / static_cast<double>(count) : 1.0;
  Tensor out = Tensor::empty(kept_shape, x.dtype(), x.device());
  sum_forward(x, mask, scale, out);
  if (!keepdim) out = out.view(out_shape);  // not yet in the graph: a plain view

  if (autograd::needs_graph({&x})) {
    Shape xs = x.shape();
    auto node = std::make_shared<autograd::LambdaNode>(
        is_mean ? "MeanBackward" : "SumBackward", [xs, kept_shape, scale](const Tensor& d) {
          Tensor g = d.contiguous().view(kept_shape).expand(xs).contiguous();
          if (scale != 1.0) {
            Tensor s = Tensor::empty(xs, g.dtype(), g.device());
            affine_forward(g, scale, 0.0, s);
            g = s;
          }
          return std::vector<Tensor>{g};
        });
    autograd::connect(node, {&x}, out);
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim) { return reduce(x, std::move(dims), keepdim, false); }
Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim) { return reduce(x, std::move(dims), keepdim, true); }

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  DYBAT_CHECK(lead >= 0, "sum_to_shape: cannot sum ", shape_str(g.shape()), " to ", shape_str(shape));
  std::vector<bool> mask(g.dim(), false);
  Shape kept(g.dim());
  for (int64_t d = 0; d < g.dim(); ++d) {
    bool reduce_d = d < lead || (shape[d - lead] == 1 && g.size(d) != 1);
    DYBAT_CHECK(reduce_d || d < lead || shape[d - lead] == g.size(d), "sum_to_shape: cannot sum ",
                shape_str(g.shape()), " to ", shape_str(shape));
    mask[d] = reduce_d;
    kept[d] = reduce_d ? 1 : g.size(d);
  }
  Tensor out = Tensor::empty(kept, g.dtype(), g.device());
  sum_forward(g, mask, 1.0, out);
  return out.view(shape);
}

}  // namespace dybat
