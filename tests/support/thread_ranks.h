// N threads of one test process as the N ranks of a data-parallel run: a Communicator whose
// collectives meet under a barrier, so the data-parallel code paths (synchronised BatchNorm, the
// gradient buckets, the global loss) run without mpirun. Sums are taken in rank order in the
// tensor's own dtype, as a two-rank MPI sum would. CPU tensors only.
#pragma once

#include <barrier>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "train/dist.h"

namespace dybat::test {

class ThreadRanks {
 public:
  explicit ThreadRanks(int n) : n_(n) {}

  // Runs fn(comm) on n threads, rank r's comm has rank r; rethrows the first exception.
  void run(const std::function<void(const Communicator&)>& fn) {
    std::vector<std::thread> threads;
    std::exception_ptr error;
    std::mutex m;
    for (int r = 0; r < n_; ++r)
      threads.emplace_back([&, r] {
        Comm comm(*this, r, 0);
        try {
          fn(comm);
        } catch (...) {
          std::lock_guard<std::mutex> lock(m);
          if (!error) error = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    if (error) std::rethrow_exception(error);
  }

 private:
  // One independent channel of collectives (a communicator and each of its duplicates).
  struct Channel {
    explicit Channel(int n) : sync(n), parts(static_cast<size_t>(n)) {}
    std::barrier<> sync;
    std::vector<std::vector<char>> parts;  // each rank's bytes of the current collective
  };

  Channel& channel(int k) {
    std::lock_guard<std::mutex> lock(mutex_);
    while (static_cast<int>(channels_.size()) <= k) channels_.push_back(std::make_unique<Channel>(n_));
    return *channels_[static_cast<size_t>(k)];
  }

  class Comm : public Communicator {
   public:
    Comm(ThreadRanks& group, int rank, int channel) : g_(group), rank_(rank), ch_(channel) {}
    int size() const override { return g_.n_; }
    int rank() const override { return rank_; }
    int local_rank() const override { return rank_; }
    Device device() const override { return Device::cpu(); }
    void all_reduce_sum(const Tensor& t) const override {
      exchange(t, [&](Channel& c) {
        if (t.dtype() == DType::Float32) sum<float>(c, t);
        if (t.dtype() == DType::Float64) sum<double>(c, t);
        if (t.dtype() == DType::Int64) sum<int64_t>(c, t);
      });
    }
    void all_gather(const Tensor& t) const override {
      exchange(t, [&](Channel& c) {
        const size_t part = t.nbytes() / static_cast<size_t>(size());
        for (int r = 0; r < size(); ++r)
          if (r != rank_)
            std::memcpy(static_cast<char*>(t.data_ptr()) + r * part, c.parts[static_cast<size_t>(r)].data() + r * part,
                        part);
      });
    }
    void broadcast(const Tensor& t, int root) const override {
      exchange(t,
               [&](Channel& c) { std::memcpy(t.data_ptr(), c.parts[static_cast<size_t>(root)].data(), t.nbytes()); });
    }
    void barrier() const override { g_.channel(ch_).sync.arrive_and_wait(); }
    std::unique_ptr<PendingReduce> start_all_reduce_sum(const Tensor& t) const override {
      all_reduce_sum(t);
      struct Done : PendingReduce {
        bool test() override { return true; }
        void wait() override {}
      };
      return std::make_unique<Done>();
    }
    std::unique_ptr<Communicator> duplicate() const override {
      return std::make_unique<Comm>(g_, rank_, ch_ * 16 + 1 + duplicates_++);  // one level of duplicates
    }
    [[noreturn]] void abort(int) const override { throw std::runtime_error("ThreadRanks: abort"); }

   private:
    // Every rank publishes its bytes, then `use` reads the parts, then all wait before the next.
    template <class F>
    void exchange(const Tensor& t, F&& use) const {
      DYBAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "ThreadRanks: contiguous CPU tensors only");
      Channel& c = g_.channel(ch_);
      auto& mine = c.parts[static_cast<size_t>(rank_)];
      mine.assign(static_cast<const char*>(t.data_ptr()), static_cast<const char*>(t.data_ptr()) + t.nbytes());
      c.sync.arrive_and_wait();
      use(c);
      c.sync.arrive_and_wait();
    }
    template <class T>
    void sum(Channel& c, const Tensor& t) const {
      T* out = t.data<T>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        T acc = reinterpret_cast<const T*>(c.parts[0].data())[i];
        for (int r = 1; r < size(); ++r) acc += reinterpret_cast<const T*>(c.parts[static_cast<size_t>(r)].data())[i];
        out[i] = acc;
      }
    }

    ThreadRanks& g_;
    int rank_, ch_;
    mutable int duplicates_ = 0;
  };

  int n_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Channel>> channels_;
};

}  // namespace dybat::test
