// Bucketed gradient all-reduce (see grad_sync.h).
#include "train/grad_sync.h"

#include <algorithm>
#include <chrono>

#include "core/autograd.h"
#include "core/copy.h"

namespace dybat {

std::vector<Bucket> plan_buckets(const std::vector<int64_t>& numel, const std::vector<DType>& dtype, int64_t cap) {
  DYBAT_CHECK(numel.size() == dtype.size(), "plan_buckets: ", numel.size(), " sizes for ", dtype.size(), " dtypes");
  DYBAT_CHECK(cap >= 0, "plan_buckets: the bucket size must be >= 0, got ", cap);
  std::vector<Bucket> out;
  for (size_t k = numel.size(); k-- > 0;) {
    const int64_t bytes = numel[k] * static_cast<int64_t>(dtype_size(dtype[k]));
    const bool fits = !out.empty() && out.back().dtype == dtype[k] &&
                      (cap == 0 || (out.back().numel * static_cast<int64_t>(dtype_size(dtype[k])) + bytes <= cap));
    if (!fits) {
      out.emplace_back();
      out.back().dtype = dtype[k];
    }
    out.back().params.push_back(k);
    out.back().numel += numel[k];
  }
  return out;
}

GradientSync::GradientSync(const Module& net, const Communicator& comm, int64_t cap_bytes)
    : comm_(comm), cap_(cap_bytes) {
  params_ = net.parameters();
  std::vector<int64_t> numel;
  std::vector<DType> dtype;
  for (const Tensor& p : params_) {
    numel.push_back(p.numel());
    dtype.push_back(p.dtype());
    DYBAT_CHECK(p.device() == comm.device(), "gradient all-reduce: a parameter is on ", p.device().str(),
                " but the communicator on ", comm.device().str());
  }
  buckets_ = plan_buckets(numel, dtype, cap_bytes);
  bucket_of_.assign(params_.size(), 0);
  offset_.assign(params_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t off = 0;
    for (size_t p : buckets_[b].params) {
      bucket_of_[p] = b;
      offset_[p] = off;
      off += params_[p].numel();
    }
  }
  flat_.resize(buckets_.size());
  pending_.resize(buckets_.size());
  for (size_t i = 0; i < params_.size(); ++i) index_.emplace_back(params_[i].impl().get(), i);
  std::sort(index_.begin(), index_.end());
}

GradientSync::~GradientSync() = default;

void GradientSync::backward(const std::function<void()>& backward) {
  missing_.assign(buckets_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) missing_[b] = static_cast<int64_t>(buckets_[b].params.size());
  next_ = 0;
  started_during_ = 0;
  in_backward_ = true;
  {
    autograd::GradReadyScope scope([this](const TensorImpl& leaf) { on_ready(leaf); });
    backward();
  }
  in_backward_ = false;
  const auto t0 = std::chrono::steady_clock::now();
  start_ready_buckets(/*all=*/true);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    if (!pending_[b]) continue;
    pending_[b]->wait();
    pending_[b].reset();
    if (!flat_[b].defined()) continue;
    for (size_t p : buckets_[b].params) {
      const Tensor& g = params_[p].grad();
      if (g.defined()) copy_into(g, flat_[b].slice(offset_[p], offset_[p] + g.numel()).view(g.shape()));
    }
  }
  wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++passes_;
}

void GradientSync::on_ready(const TensorImpl& leaf) {
  auto it = std::lower_bound(index_.begin(), index_.end(), std::pair<const TensorImpl*, size_t>(&leaf, 0));
  if (it == index_.end() || it->first != &leaf) return;  // not one of the net's parameters
  --missing_[bucket_of_[it->second]];
  if (cap_ > 0) start_ready_buckets(/*all=*/false);  // cap 0: everything after the backward
  for (auto& p : pending_)
    if (p) p->test();  // progress the reductions in flight
}

void GradientSync::start_ready_buckets(bool all) {
  while (next_ < buckets_.size() && (all || missing_[next_] == 0)) {
    start(next_);
    if (in_backward_) ++started_during_;
    ++next_;
  }
}

void GradientSync::start(size_t b) {
  const Bucket& bk = buckets_[b];
  if (bk.params.size() == 1) {
    const Tensor& g = params_[bk.params[0]].grad();
    if (g.defined()) pending_[b] = comm_.start_all_reduce_sum(g);
    return;
  }
  if (!flat_[b].defined()) flat_[b] = Tensor::empty({bk.numel}, bk.dtype, comm_.device());
  for (size_t p : bk.params) {
    const Tensor& g = params_[p].grad();
    Tensor slot = flat_[b].slice(offset_[p], offset_[p] + params_[p].numel());
    if (g.defined())
      copy_into(slot.view(g.shape()), g);
    else
      fill_into(slot, 0.0);
  }
  pending_[b] = comm_.start_all_reduce_sum(flat_[b]);
}

}  // namespace dybat
