// dist_check: the MPI communicator's collectives, run by the test suite under
// `mpirun -np N` (tests/tools/dist_test.cpp). Every rank checks what it received against what
// the sums and copies must give and prints one line "rank R of N: ok" (or the first failure,
// exiting 1); rank 0 also prints "collectives: ok" after a final barrier.
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/dist.h"

using namespace dybat;

namespace {

int g_failures = 0;

void expect(bool ok, const std::string& what, int rank) {
  if (ok) return;
  ++g_failures;
  std::fprintf(stderr, "rank %d: FAILED: %s\n", rank, what.c_str());
}

}  // namespace

int main() {
  try {
    auto comm = mpi_communicator();
    const int r = comm->rank(), n = comm->size();
    // Sums in three dtypes: rank r contributes r + 1 (and r in the int64 tensor).
    Tensor f = Tensor::full({1000}, r + 1.0, DType::Float32), d = Tensor::full({3}, 0.5 * (r + 1), DType::Float64);
    Tensor i = Tensor::full({2}, r, DType::Int64);
    comm->all_reduce_sum(f);
    comm->all_reduce_sum(d);
    comm->all_reduce_sum(i);
    const double total = n * (n + 1) / 2.0;
    expect(f.to_vector<float>()[999] == static_cast<float>(total), "float32 all-reduce", r);
    expect(d.to_vector<double>()[0] == 0.5 * total, "float64 all-reduce", r);
    expect(i.to_vector<int64_t>()[1] == n * (n - 1) / 2, "int64 all-reduce", r);
    // All-gather in place: part q holds q * 10 + k.
    Tensor g = Tensor::zeros({n * 2, 2}, DType::Float32);
    for (int k = 0; k < 4; ++k) g.data<float>()[r * 4 + k] = static_cast<float>(r * 10 + k);
    comm->all_gather(g);
    bool gathered = true;
    for (int q = 0; q < n; ++q)
      for (int k = 0; k < 4; ++k) gathered = gathered && g.data<float>()[q * 4 + k] == static_cast<float>(q * 10 + k);
    expect(gathered, "all-gather", r);
    // Broadcast from the last rank; text from rank 0; agreement.
    Tensor b = Tensor::full({5}, r, DType::UInt8);
    comm->broadcast(b, n - 1);
    expect(b.to_vector<uint8_t>()[4] == n - 1, "broadcast", r);
    expect(broadcast_text(*comm, r == 0 ? "from rank 0" : "") == "from rank 0", "text broadcast", r);
    expect(any_rank(*comm, r == n - 1) && !any_rank(*comm, false), "agreement", r);
    expect(gather_values(*comm, r * r)[static_cast<size_t>(n - 1)] == (n - 1) * (n - 1), "gathered values", r);
    // Non-blocking sums on a duplicate, two in flight, completed out of order.
    auto dup = comm->duplicate();
    Tensor a1 = Tensor::full({100000}, 1.0, DType::Float32), a2 = Tensor::full({7}, r, DType::Float64);
    auto p1 = dup->start_all_reduce_sum(a1);
    auto p2 = dup->start_all_reduce_sum(a2);
    comm->all_reduce_sum(d);  // a blocking sum on the other communicator meanwhile
    p2->wait();
    while (!p1->test()) {
    }
    expect(a1.to_vector<float>()[99999] == static_cast<float>(n), "non-blocking float32 sum", r);
    expect(a2.to_vector<double>()[6] == n * (n - 1) / 2.0, "non-blocking float64 sum", r);
    comm->barrier();
    std::printf("rank %d of %d: %s\n", r, n, g_failures == 0 ? "ok" : "FAILED");
    std::fflush(stdout);
    comm->barrier();
    if (r == 0 && g_failures == 0) std::printf("collectives: ok\n");
    finalize_mpi();
    return g_failures == 0 ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "dist_check: error: %s\n", e.message().c_str());
    return 2;
  }
}
