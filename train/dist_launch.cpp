// Launch checks, device choice, slicing and dataset loading of a data-parallel run (see
// dist_launch.h).
#include "train/dist_launch.h"

#include <algorithm>
#include <cstdlib>

#include "train/setup.h"

namespace dybat {

RankSlice rank_slice(int64_t batch, int rank, int size) {
  DYBAT_CHECK(size >= 1 && rank >= 0 && rank < size, "rank_slice: rank ", rank, " of ", size);
  DYBAT_CHECK(batch >= size && batch % size == 0, "rank_slice: ", size, " ranks cannot share batches of ", batch);
  const int64_t n = batch / size;
  return {rank * n, n};
}

std::string batch_split_problem(int64_t batch, int size, const std::string& flag) {
  if (size <= 1) return "";
  const std::string procs = std::to_string(size) + " processes (mpirun -np " + std::to_string(size) + ")";
  if (batch < size)
    return flag + " " + std::to_string(batch) + " is smaller than the " + procs +
           " of this launch: every process needs at least one sample of each batch; use at most -np " +
           std::to_string(batch) + " or a larger " + flag;
  if (batch % size != 0) {
    const int64_t lo = batch / size * size, hi = lo + size;
    return flag + " " + std::to_string(batch) + " does not divide into " + procs +
           ": every process takes an equal slice of each batch; use a multiple of " + std::to_string(size) + " (" +
           std::to_string(lo) + " or " + std::to_string(hi) + ")";
  }
  return "";
}

std::vector<int64_t> rank_rows(int64_t num_samples, int64_t batch, int rank, int size) {
  const RankSlice s = rank_slice(batch, rank, size);
  const int64_t batches = num_samples / batch;
  std::vector<int64_t> rows;
  rows.reserve(static_cast<size_t>(batches * s.count));
  for (int64_t j = 0; j < batches; ++j)
    for (int64_t i = 0; i < s.count; ++i) rows.push_back(j * batch + s.begin + i);
  return rows;
}

Split rank_split(const Split& split, int64_t batch, int rank, int size, Device device) {
  DYBAT_CHECK(split.images.device().is_cpu() && split.images.is_contiguous() && split.labels.is_contiguous(),
              "rank_split: the split must be contiguous on the CPU");
  const std::vector<int64_t> rows = rank_rows(split.size(), batch, rank, size);
  const int64_t n = static_cast<int64_t>(rows.size());
  Shape shape = split.images.shape();
  shape[0] = n;
  Tensor images = Tensor::empty(shape, split.images.dtype());
  Tensor labels = Tensor::empty({n}, DType::Int64);
  const size_t row_bytes = split.images.nbytes() / static_cast<size_t>(split.size() > 0 ? split.size() : 1);
  const auto* src = static_cast<const char*>(split.images.data_ptr());
  auto* dst = static_cast<char*>(images.data_ptr());
  const int64_t* src_labels = split.labels.data<int64_t>();
  int64_t* dst_labels = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    std::copy(src + rows[i] * row_bytes, src + (rows[i] + 1) * row_bytes, dst + i * row_bytes);
    dst_labels[i] = src_labels[rows[i]];
  }
  return {images.to(device), labels.to(device)};
}

std::string settings_difference(const nlohmann::json& mine, const nlohmann::json& root) {
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (mine.contains(it.key()) && mine.at(it.key()) == it.value()) continue;
    std::string flag = it.key();
    std::replace(flag.begin(), flag.end(), '_', '-');
    return "--" + flag + " " + (mine.contains(it.key()) ? mine.at(it.key()).dump() : "(unset)") +
           " (rank 0: " + it.value().dump() + ")";
  }
  for (auto it = mine.begin(); it != mine.end(); ++it)
    if (!root.contains(it.key())) return "--" + it.key() + " " + it.value().dump() + " (rank 0: unset)";
  return "";
}

void fail_on_every_rank(const std::string& message) { throw AgreedError(message, __FILE__, __LINE__); }

DistRun::DistRun() : launch_(launch_from_env()) {
  host_ = launch_.under_mpirun ? mpi_communicator() : single_process_communicator(Device::cpu());
}

DistRun::~DistRun() { finish(); }

void DistRun::finish() {
  device_comm_.reset();
  if (launch_.under_mpirun) finalize_mpi();
}

void DistRun::abort(int code) const {
  host_->abort(code);
  std::_Exit(code);  // not reached
}

std::string DistRun::who() const {
  return launch_.under_mpirun ? "rank " + std::to_string(rank()) + " of " + std::to_string(size()) : "";
}

const Communicator& DistRun::communicator(Device device) {
  if (device.is_cpu()) return *host_;
  if (!device_comm_) device_comm_ = nccl_communicator(*host_, device);
  DYBAT_CHECK(device_comm_->device() == device, "this rank communicates on ", device_comm_->device().str(), ", not ",
              device.str());
  return *device_comm_;
}

Device DistRun::device(const std::string& requested) const {
  if (!launch_.under_mpirun) return resolve_device(requested);
  const bool gpu = requested == "cuda" || (requested.empty() && cuda_available());
  if (!gpu) {
    Device d = resolve_device(requested);
    DYBAT_CHECK(d.is_cpu() || size() == 1, "--device ", requested, " under mpirun: every process would use ", d.str(),
                "; use --device cuda (process r of a node takes cuda:r) or --device cpu");
    return d;
  }
  const int local = host_->local_rank();
  DYBAT_CHECK(cuda_available() && local < cuda_device_count(), "under mpirun each process takes the GPU of its rank ",
              "on its node, but this node's rank ", local, " finds ", cuda_available() ? cuda_device_count() : 0,
              " GPU(s); start at most that many processes per node, or use --device cpu");
  return Device::cuda(local);
}

void DistRun::check_same_arguments(const std::vector<std::string>& args) const {
  if (size() == 1) return;
  std::string mine;
  for (const std::string& a : args) mine += a + '\n';
  const std::string theirs = broadcast_text(*host_, mine, 0);
  const int64_t differs = mine == theirs ? 0 : 1;
  const std::vector<int64_t> all = gather_values(*host_, differs);
  for (int r = 0; r < size(); ++r)
    if (all[static_cast<size_t>(r)] != 0)
      fail_on_every_rank("the processes were started with different arguments (rank " + std::to_string(r) +
                         "'s differ from rank 0's); start every process with the same command line");
}

void DistRun::check_same_settings(const nlohmann::json& config) const {
  if (size() == 1) return;
  const std::string root_text = broadcast_text(*host_, config.dump(), 0);
  const std::string diff = settings_difference(config, nlohmann::json::parse(root_text));
  const std::vector<int64_t> all = gather_values(*host_, diff.empty() ? 0 : 1);
  int first = -1;
  for (int r = 0; r < size() && first < 0; ++r)
    if (all[static_cast<size_t>(r)] != 0) first = r;
  if (first < 0) return;
  const std::string text = broadcast_text(*host_, diff, first);
  fail_on_every_rank("the processes do not run with the same settings: rank " + std::to_string(first) + " has " + text +
                     "; every process must run the same configuration");
}

void DistRun::check_batch(int64_t batch, const std::string& flag) const {
  if (std::string p = batch_split_problem(batch, size(), flag); !p.empty()) fail_on_every_rank(p);
}

void DistRun::check_resume_ranks(const nlohmann::json& saved, const std::string& dir) const {
  const int64_t ranks = saved.contains("ranks") ? saved["ranks"].get<int64_t>() : 1;
  if (ranks == size()) return;
  const auto procs = [](int64_t n) {
    return n == 1 ? std::string("one process")
                  : std::to_string(n) + " processes (mpirun -np " + std::to_string(n) + ")";
  };
  fail_on_every_rank("--resume " + dir + ": the run was trained by " + procs(ranks) + ", this launch has " +
                     procs(size()) + "; resume it with " + procs(ranks) +
                     " (another count would split the batches differently: BatchNorm statistics and the order of "
                     "the sums would change, so the resumed run would not continue the same trajectory)");
}

void DistRun::on_root(const std::function<void()>& check) const {
  std::string error;
  if (root()) {
    try {
      check();
    } catch (const Error& e) {
      if (size() == 1) throw;
      error = e.message();
    }
  }
  error = broadcast_text(*host_, error, 0);
  if (!error.empty()) fail_on_every_rank(error);
}

void DistRun::in_turn(const std::function<void()>& fn) const {
  const bool first_on_node = host_->local_rank() == 0;
  for (int group = 0; group < 3; ++group) {
    const int mine = root() ? 0 : first_on_node ? 1 : 2;
    if (mine == group) fn();
    host_->barrier();
  }
}

Dataset DistRun::load_dataset(const TrainConfig& c, Device device, int64_t batch) const {
  if (size() == 1) return load_run_dataset(c, device);
  TrainConfig on_cpu = c;
  on_cpu.device = "cpu";
  Dataset ds;
  auto load = [&] { ds = load_run_dataset(on_cpu, Device::cpu(), /*notices=*/root()); };
  // Only image folders write a cache (a dataset found under --data may be one).
  if (c.dataset == "folder" || c.dataset.empty())
    in_turn(load);
  else
    load();
  for (auto [split, name] : {std::pair{&ds.train, "training"}, {&ds.test, "test"}}) {
    if (split->size() < batch)
      fail_on_every_rank("--batch-size " + std::to_string(batch) + " is larger than the " + name + " split (" +
                         std::to_string(split->size()) + " samples)");
    *split = rank_split(*split, batch, rank(), size(), device);
  }
  return ds;
}

}  // namespace dybat
