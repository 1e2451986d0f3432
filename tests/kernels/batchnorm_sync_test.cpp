// Synchronised batch norm: with one process it is batch_norm; gradient checks of every input in
// float64 (through the synchronised kernels and their reductions); and N threads as N ranks,
// each with a slice of the batch, give the one-process forward, running statistics and
// gradients of the whole batch (the parity structure of the data-parallel path).
#include "kernels/batchnorm_sync.h"

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "support/test_util.h"
#include "support/thread_ranks.h"
#include "train/dist.h"

using namespace dybat;
using dybat::test::max_abs_diff;
using dybat::test::rand;

namespace {

BatchNormOptions train_opts(Act act, const Collective* sync = nullptr) {
  BatchNormOptions o{true, true, 0.1, 1e-5, act};
  o.sync = sync;
  return o;
}

// Rows [begin, end) of x along dim 0, as a fresh leaf.
Tensor rows(const Tensor& x, int64_t begin, int64_t end, bool grad) {
  Tensor t = x.slice(begin, end).clone();
  if (grad) t.set_requires_grad(true);
  return t;
}

}  // namespace

class SyncBatchNormOneRank : public ::testing::TestWithParam<std::tuple<Act, Shape>> {};

TEST_P(SyncBatchNormOneRank, EqualsBatchNormAndPassesGradcheck) {
  auto [act, shape] = GetParam();
  const int64_t c = shape[1];
  auto one = single_process_communicator(Device::cpu());
  Tensor x = rand(shape, 1, -2, 2, true), res = rand(shape, 2, -1, 1, true);
  Tensor gamma = rand({c}, 3, 0.5, 1.5, true), beta = rand({c}, 4, -0.5, 0.5, true);
  Tensor rm_a = rand({c}, 5), rv_a = rand({c}, 6, 0.5, 1.5), rm_b = rm_a.clone(), rv_b = rv_a.clone();
  Tensor plain = batch_norm(x, gamma, beta, rm_a, rv_a, train_opts(act), res);
  Tensor synced = batch_norm(x, gamma, beta, rm_b, rv_b, train_opts(act, one.get()), res);
  EXPECT_LT(max_abs_diff(plain, synced), 1e-13);
  EXPECT_LT(max_abs_diff(rm_a, rm_b), 1e-15);
  EXPECT_LT(max_abs_diff(rv_a, rv_b), 1e-14);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return sync_batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), {true, false, 0.1, 1e-5, act}, *one, in[3]);
      },
      {x, gamma, beta, res});
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return sync_batch_norm(in[0], in[1], in[2], rm_b, rv_b, train_opts(act), *one);
      },
      {x, gamma, beta});
}

INSTANTIATE_TEST_SUITE_P(ActsShapes, SyncBatchNormOneRank,
                         ::testing::Combine(::testing::Values(Act::None, Act::ReLU, Act::SiLU, Act::HardSwish),
                                            ::testing::Values(Shape{2, 3, 4, 5}, Shape{4, 3})));

// ranks threads, each with n / ranks samples of a batch of n: the outputs, dx and dresidual of the
// slices are the slices of the one-process results; the per-rank dgamma and dbeta sum to the
// one-process ones; every rank's running statistics are the one-process ones.
void expect_ranks_match_one_process(int ranks, const Shape& shape, Act act, DType dtype, double tol) {
  const int64_t n = shape[0], c = shape[1], part = n / ranks;
  Tensor x = rand(shape, 10, -2, 2, false, dtype), res = rand(shape, 11, -1, 1, false, dtype);
  Tensor gamma = rand({c}, 12, 0.5, 1.5, false, dtype), beta = rand({c}, 13, -0.5, 0.5, false, dtype);
  Tensor g = rand(shape, 14, -1, 1, false, dtype);
  Tensor rm0 = rand({c}, 15, -0.2, 0.2, false, dtype), rv0 = rand({c}, 16, 0.5, 1.5, false, dtype);

  Tensor xf = rows(x, 0, n, true), rf = rows(res, 0, n, true), gf = gamma.clone().set_requires_grad(true),
         bf = beta.clone().set_requires_grad(true), rm = rm0.clone(), rv = rv0.clone();
  Tensor out = batch_norm(xf, gf, bf, rm, rv, train_opts(act), rf);
  out.backward(g);

  std::vector<Tensor> outs(ranks), dxs(ranks), drs(ranks), dgs(ranks), dbs(ranks), rms(ranks), rvs(ranks);
  test::ThreadRanks(ranks).run([&](const Communicator& comm) {
    const int r = comm.rank();
    Tensor xr = rows(x, r * part, (r + 1) * part, true), rr = rows(res, r * part, (r + 1) * part, true);
    Tensor gr = gamma.clone().set_requires_grad(true), br = beta.clone().set_requires_grad(true);
    rms[r] = rm0.clone();
    rvs[r] = rv0.clone();
    outs[r] = batch_norm(xr, gr, br, rms[r], rvs[r], train_opts(act, &comm), rr);
    outs[r].backward(g.slice(r * part, (r + 1) * part).contiguous());
    dxs[r] = xr.grad();
    drs[r] = rr.grad();
    dgs[r] = gr.grad();
    dbs[r] = br.grad();
  });
  Tensor dg_sum = dgs[0].clone(), db_sum = dbs[0].clone();
  for (int r = 0; r < ranks; ++r) {
    const int64_t b = r * part, e = (r + 1) * part;
    EXPECT_LT(max_abs_diff(outs[r], out.slice(b, e)), tol) << "rank " << r;
    EXPECT_LT(max_abs_diff(dxs[r], xf.grad().slice(b, e)), tol) << "rank " << r;
    EXPECT_LT(max_abs_diff(drs[r], rf.grad().slice(b, e)), tol) << "rank " << r;
    EXPECT_LT(max_abs_diff(rms[r], rm), tol) << "rank " << r;
    EXPECT_LT(max_abs_diff(rvs[r], rv), tol) << "rank " << r;
    if (r > 0) {
      dg_sum = add(dg_sum, dgs[r]);
      db_sum = add(db_sum, dbs[r]);
    }
  }
  EXPECT_LT(max_abs_diff(dg_sum, gf.grad()), tol * static_cast<double>(n));
  EXPECT_LT(max_abs_diff(db_sum, bf.grad()), tol * static_cast<double>(n));
}

TEST(SyncBatchNormRanks, TwoAndThreeRanksGiveTheWholeBatch) {
  for (Act act : {Act::None, Act::ReLU, Act::HardSwish}) {
    expect_ranks_match_one_process(2, {4, 3, 5, 4}, act, DType::Float64, 1e-12);
    expect_ranks_match_one_process(3, {6, 5, 2, 3}, act, DType::Float64, 1e-12);
    expect_ranks_match_one_process(2, {8, 4}, act, DType::Float64, 1e-12);
  }
  // float32: the sums are in double on both sides, so only the elementwise rounding differs.
  expect_ranks_match_one_process(2, {8, 16, 6, 6}, Act::ReLU, DType::Float32, 2e-5);
}

TEST(SyncBatchNormRanks, KernelChecks) {
  Tensor x = rand({2, 3, 2, 2}, 1);
  EXPECT_NE(test::error_of([&] { batchnorm_sums(x, Tensor::zeros({3}, DType::Float64)); }).find("[4]"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { batchnorm_sums(x, Tensor::zeros({4}, DType::Float32)); }).find("float64"),
            std::string::npos);
  auto one = single_process_communicator(Device::cpu());
  EXPECT_NE(test::error_of([&] {
              sync_batch_norm(x, Tensor::ones({3}, DType::Float64), Tensor::zeros({3}, DType::Float64), Tensor(),
                              Tensor(), {false, false, 0.1, 1e-5, Act::None}, *one);
            }).find("batch statistics"),
            std::string::npos);
}
