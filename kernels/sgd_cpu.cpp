// CPU SGD update: one elementwise pass over all parameters.
//
// The parameters are cut into pieces of at most kPiece elements (a large tensor into several,
// small ones whole) and the pieces are shared out over the OpenMP threads, so a net's hundreds of
// small BN vectors and its few large conv weights keep every thread equally busy. Each element is
// updated by exactly one thread with the same arithmetic (sgd_math.h), so the result does not
// depend on the thread count. The inner loop is specialised on the option flags so it vectorises.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/backend.h"
#include "kernels/sgd.h"
#include "kernels/sgd_math.h"

namespace dybat::cpu {

namespace {

constexpr int64_t kPiece = int64_t(1) << 15;

struct Piece {
  size_t tensor;
  int64_t begin, end;
};

template <bool kDecay, bool kBuf, bool kNesterov, class T>
void update_range(T* __restrict p, const T* __restrict g, T* __restrict b, int64_t n, const SgdScalars<T>& s) {
  SgdScalars<T> k = s;
  if (!kDecay) k.weight_decay = T(0);
  k.use_buf = kBuf;
  k.nesterov = kNesterov;
  for (int64_t i = 0; i < n; ++i) sgd_step(p[i], g[i], kBuf ? b + i : nullptr, k);
}

}  // namespace

void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt) {
  const bool use_buf = opt.momentum != 0.0, decay = opt.weight_decay != 0.0;
  std::vector<Piece> pieces;
  int64_t total = 0;
  for (size_t t = 0; t < params.size(); ++t) {
    if (!grads[t].defined()) continue;
    const int64_t n = params[t].numel();
    for (int64_t b0 = 0; b0 < n; b0 += kPiece) pieces.push_back({t, b0, std::min(n, b0 + kPiece)});
    total += n;
  }
  dispatch_float(params[0].dtype(), "sgd_update", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    const SgdScalars<T> s{static_cast<T>(opt.lr), static_cast<T>(opt.momentum), static_cast<T>(opt.weight_decay),
                          opt.nesterov, use_buf};
    const int64_t count = static_cast<int64_t>(pieces.size());
#pragma omp parallel for schedule(static) if (total > 2 * kPiece)
    for (int64_t k = 0; k < count; ++k) {
      const Piece& pc = pieces[static_cast<size_t>(k)];
      T* p = params[pc.tensor].data<T>() + pc.begin;
      const T* g = grads[pc.tensor].data<T>() + pc.begin;
      T* b = use_buf ? bufs[pc.tensor].data<T>() + pc.begin : nullptr;  // only read when use_buf
      const int64_t n = pc.end - pc.begin;
      if (!use_buf)
        decay ? update_range<true, false, false>(p, g, b, n, s) : update_range<false, false, false>(p, g, b, n, s);
      else if (opt.nesterov)
        decay ? update_range<true, true, true>(p, g, b, n, s) : update_range<false, true, true>(p, g, b, n, s);
      else
        decay ? update_range<true, true, false>(p, g, b, n, s) : update_range<false, true, false>(p, g, b, n, s);
    }
  });
}

}  // namespace dybat::cpu
