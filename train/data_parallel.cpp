// The data-parallel side of the training loop (see data_parallel.h).
#include "train/data_parallel.h"

#include <cstdlib>
#include <string>

#include "core/copy.h"
#include "kernels/elementwise.h"
#include "layers/norm.h"
#include "train/dist_launch.h"

namespace dybat {

DataParallel::DataParallel(Module& net, const Communicator& comm, const Communicator& host, DataParallelOptions options)
    : net_(net), comm_(comm), host_(host), options_(options) {
  if (options_.sync_bn && comm.size() > 1) use_sync_batch_norm(net, &comm_);
  grad_comm_ = comm.duplicate();
  grads_ = std::make_unique<GradientSync>(net, *grad_comm_, options_.bucket_bytes);
}

DataParallel::~DataParallel() = default;

void DataParallel::broadcast_state() {
  for (auto& [name, t] : net_.state_dict()) comm_.broadcast(t, 0);
}

void DataParallel::before_evaluation() {
  if (options_.sync_bn) return;
  for (auto& [name, t] : net_.named_buffers()) comm_.broadcast(t, 0);
}

void DataParallel::note_trace(const std::vector<TraceRow>& rows) {
  unchecked_.insert(unchecked_.end(), rows.begin(), rows.end());
}

void DataParallel::check_trace(SelectionState& selection) {
  const int64_t n = static_cast<int64_t>(unchecked_.size());
  const std::vector<int64_t> counts = gather_values(host_, n);
  for (int r = 0; r < host_.size(); ++r)
    if (counts[static_cast<size_t>(r)] != counts[0])
      fail_on_every_rank("rank " + std::to_string(r) + " recorded " + std::to_string(counts[static_cast<size_t>(r)]) +
                         " steps since the last evaluation, rank 0 " + std::to_string(counts[0]));
  Tensor ids = Tensor::zeros({n > 0 ? n : 1}, DType::Int64);
  for (int64_t i = 0; i < n; ++i) ids.data<int64_t>()[i] = unchecked_[static_cast<size_t>(i)].batch_id;
  Tensor root_ids = ids.clone();
  host_.broadcast(root_ids, 0);
  int64_t first = -1;
  for (int64_t i = 0; i < n && first < 0; ++i)
    if (ids.data<int64_t>()[i] != root_ids.data<int64_t>()[i]) first = i;
  const std::vector<int64_t> where = gather_values(host_, first);
  const std::vector<int64_t> which = gather_values(host_, first >= 0 ? ids.data<int64_t>()[first] : -1);
  for (int r = 1; r < host_.size(); ++r) {
    const int64_t at = where[static_cast<size_t>(r)];
    if (at < 0) continue;
    const TraceRow& row = unchecked_[static_cast<size_t>(at)];
    fail_on_every_rank("the ranks trained on different batches at step " + std::to_string(row.step) + ": rank 0 took " +
                       "batch " + std::to_string(root_ids.data<int64_t>()[at]) + ", rank " + std::to_string(r) +
                       " batch " + std::to_string(which[static_cast<size_t>(r)]) +
                       "; their DyBAT scores diverged, so their selections are no longer one selection");
  }
  unchecked_.clear();
  if (++checks_ == 1 && diverge_rank_from_env() == rank()) {
    Tensor score = selection.score();
    score.copy_(mul(score, -1.0));
  }
}

GlobalBatch::Parts GlobalBatch::gather(const Tensor& logits, const Tensor& labels, const Tensor& losses) {
  const int64_t n = logits.size(0), all = n * comm_.size();
  if (!full_.logits.defined()) {
    full_.logits = Tensor::empty({all, logits.size(1)}, logits.dtype(), logits.device());
    full_.labels = Tensor::empty({all}, labels.dtype(), labels.device());
    full_.losses = Tensor::empty({all}, losses.dtype(), losses.device());
  }
  const int64_t at = n * comm_.rank();
  for (auto [full, part] : {std::pair{&full_.logits, &logits}, {&full_.labels, &labels}, {&full_.losses, &losses}}) {
    DYBAT_CHECK(full->size(0) == all, "GlobalBatch: a batch of ", n, " after batches of ",
                full->size(0) / comm_.size());
    copy_into(full->slice(at, at + n), *part);
    comm_.all_gather(*full);
  }
  return full_;
}

void use_sync_batch_norm(Module& net, const Collective* sync) {
  net.visit([&](const std::string&, Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) bn->set_sync(sync);
  });
}

int diverge_rank_from_env() {
  const char* v = std::getenv("DYBAT_FAULT_DIVERGE_RANK");
  return v && *v ? std::atoi(v) : -1;
}

}  // namespace dybat
