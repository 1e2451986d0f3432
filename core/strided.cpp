// Broadcasting helpers (see strided.h).
#include "core/strided.h"

#include <algorithm>

namespace dybat {

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    DYBAT_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b), " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  const Shape& ts = t.shape();
  DYBAT_CHECK(ts.size() <= shape.size(), "cannot broadcast ", shape_str(ts), " to ", shape_str(shape));
  size_t lead = shape.size() - ts.size();
  Shape st(shape.size(), 0);
  for (size_t i = 0; i < ts.size(); ++i) {
    int64_t d = ts[i];
    DYBAT_CHECK(d == shape[lead + i] || d == 1, "cannot broadcast ", shape_str(ts), " to ", shape_str(shape));
    st[lead + i] = d == 1 ? 0 : t.strides()[i];
  }
  return st;
}

}  // namespace dybat
