// Launch detection, the single-process communicator and the host-value helpers (see dist.h).
#include "train/dist.h"

#include <cstdlib>
#include <string>

namespace dybat {

namespace {

// The integer value of environment variable `name`, or -1 when it is unset.
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return -1;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  DYBAT_CHECK(*v != '\0' && *end == '\0' && n >= 0 && n < (1L << 30), "the launcher set ", name, "='", v,
              "', which is not a process count or index");
  return static_cast<int>(n);
}

class SingleProcess : public Communicator {
 public:
  explicit SingleProcess(Device device) : device_(device) {}
  int size() const override { return 1; }
  int rank() const override { return 0; }
  int local_rank() const override { return 0; }
  Device device() const override { return device_; }
  void all_reduce_sum(const Tensor&) const override {}
  void all_gather(const Tensor&) const override {}
  void broadcast(const Tensor&, int) const override {}
  void barrier() const override {}
  std::unique_ptr<PendingReduce> start_all_reduce_sum(const Tensor&) const override {
    struct Done : PendingReduce {
      bool test() override { return true; }
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  std::unique_ptr<Communicator> duplicate() const override { return std::make_unique<SingleProcess>(device_); }
  [[noreturn]] void abort(int code) const override { std::_Exit(code); }

 private:
  Device device_;
};

}  // namespace

Launch launch_from_env() {
  Launch l;
  const int size = env_int("OMPI_COMM_WORLD_SIZE");
  if (size < 0) return l;
  const int rank = env_int("OMPI_COMM_WORLD_RANK"), local = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
  DYBAT_CHECK(size >= 1 && rank >= 0 && rank < size, "the launcher set OMPI_COMM_WORLD_SIZE=", size,
              " and OMPI_COMM_WORLD_RANK=", rank, ", which do not describe a process of the job");
  l.under_mpirun = true;
  l.size = size;
  l.rank = rank;
  l.local_rank = local < 0 ? 0 : local;
  return l;
}

std::unique_ptr<Communicator> single_process_communicator(Device device) {
  return std::make_unique<SingleProcess>(device);
}

std::string broadcast_text(const Communicator& comm, const std::string& text, int root) {
  if (comm.size() == 1) return text;
  Tensor len = Tensor::full({1}, static_cast<double>(text.size()), DType::Int64);
  comm.broadcast(len, root);
  const int64_t n = len.data<int64_t>()[0];
  Tensor bytes = Tensor::zeros({n > 0 ? n : 1}, DType::UInt8);
  if (comm.rank() == root) std::copy(text.begin(), text.end(), bytes.data<uint8_t>());
  comm.broadcast(bytes, root);
  const char* p = reinterpret_cast<const char*>(bytes.data<uint8_t>());
  return std::string(p, p + n);
}

bool any_rank(const Communicator& comm, bool flag) {
  if (comm.size() == 1) return flag;
  Tensor t = Tensor::full({1}, flag ? 1.0 : 0.0, DType::Int64);
  comm.all_reduce_sum(t);
  return t.data<int64_t>()[0] > 0;
}

std::vector<int64_t> gather_values(const Communicator& comm, int64_t value) {
  Tensor t = Tensor::zeros({comm.size()}, DType::Int64);
  t.data<int64_t>()[comm.rank()] = value;
  comm.all_gather(t);
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + comm.size());
}

}  // namespace dybat
