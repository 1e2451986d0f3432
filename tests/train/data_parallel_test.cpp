// The data-parallel pieces in one process: the gradient-ready hook of the autograd engine, the
// bucket planner, the slicing arithmetic, the settings comparison and the single-process
// communicator; then threads as ranks (tests/support/thread_ranks.h): the bucketed gradient sum
// and whole training steps (global loss, synchronised BatchNorm) equal one process's step on the
// whole batch.
#include "train/data_parallel.h"

#include <algorithm>
#include <set>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "nets/registry.h"
#include "support/test_util.h"
#include "support/thread_ranks.h"
#include "support/train_util.h"
#include "train/dist_launch.h"
#include "train/global_loss.h"
#include "train/step.h"

using namespace dybat;
using dybat::test::error_of;
using dybat::test::max_abs_diff;
using dybat::test::ThreadRanks;
using dybat::test::TinyNet;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(GradReadyHook, EveryParameterOnceAfterItsLastContribution) {
  // w is used twice: it is reported once, after both contributions are in .grad.
  Tensor w = Tensor::from_vector<double>({2.0}, {1}).set_requires_grad(true);
  Tensor v = Tensor::from_vector<double>({3.0}, {1}).set_requires_grad(true);
  Tensor unused = Tensor::from_vector<double>({1.0}, {1}).set_requires_grad(true);
  Tensor y = add(mul(w, v), mul(w, 5.0));  // dy/dw = v + 5 = 8, dy/dv = w = 2
  std::vector<std::pair<const TensorImpl*, double>> seen;
  {
    autograd::GradReadyScope scope(
        [&](const TensorImpl& leaf) { seen.emplace_back(&leaf, leaf.grad.to_vector<double>()[0]); });
    y.backward(Tensor::ones({1}, DType::Float64));
  }
  ASSERT_EQ(seen.size(), 2u);
  std::set<const TensorImpl*> leaves;
  for (auto& [leaf, g] : seen) {
    leaves.insert(leaf);
    EXPECT_DOUBLE_EQ(g, leaf == w.impl().get() ? 8.0 : 2.0);
  }
  EXPECT_EQ(leaves, (std::set<const TensorImpl*>{w.impl().get(), v.impl().get()}));
  EXPECT_FALSE(unused.grad().defined());
  // Without a scope nothing is called, and scopes nest.
  int outer = 0, inner = 0;
  autograd::GradReadyScope a([&](const TensorImpl&) { ++outer; });
  {
    autograd::GradReadyScope b([&](const TensorImpl&) { ++inner; });
    mul(w, v).backward(Tensor::ones({1}, DType::Float64));
  }
  mul(w, 2.0).backward(Tensor::ones({1}, DType::Float64));
  EXPECT_EQ(inner, 2);
  EXPECT_EQ(outer, 1);
}

TEST(BucketPlan, ReverseOrderCapsAndDtypes) {
  using F = DType;
  // Sizes in float32 elements: 4 bytes each. cap 40 bytes = 10 elements.
  auto b =
      plan_buckets({3, 4, 5, 20, 2, 2}, {F::Float32, F::Float32, F::Float32, F::Float32, F::Float32, F::Float32}, 40);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].params, (std::vector<size_t>{5, 4}));  // the last parameters first
  EXPECT_EQ(b[1].params, (std::vector<size_t>{3}));     // larger than the cap: alone
  EXPECT_EQ(b[2].params, (std::vector<size_t>{2, 1}));
  EXPECT_EQ(b[3].params, (std::vector<size_t>{0}));
  EXPECT_EQ(b[2].numel, 9);
  // cap 0: one bucket; a dtype change always starts a new one.
  EXPECT_EQ(plan_buckets({3, 4, 5}, {F::Float32, F::Float32, F::Float32}, 0).size(), 1u);
  auto mixed = plan_buckets({3, 4, 5}, {F::Float32, F::Float64, F::Float64}, 0);
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_EQ(mixed[0].dtype, F::Float64);
  EXPECT_EQ(mixed[1].params, (std::vector<size_t>{0}));
  EXPECT_TRUE(contains(error_of([] { plan_buckets({1}, {DType::Float32}, -1); }), ">= 0"));
}

TEST(RankSlices, ContiguousSlicesOfEveryBatch) {
  EXPECT_EQ(rank_slice(12, 0, 3).begin, 0);
  EXPECT_EQ(rank_slice(12, 2, 3).begin, 8);
  EXPECT_EQ(rank_slice(12, 2, 3).count, 4);
  // 26 samples, batch 6 (4 full batches, 2 dropped), rank 1 of 2: rows 3..5 of each batch.
  EXPECT_EQ(rank_rows(26, 6, 1, 2), (std::vector<int64_t>{3, 4, 5, 9, 10, 11, 15, 16, 17, 21, 22, 23}));
  // Every sample of every full batch belongs to exactly one rank, in batch order.
  std::vector<int64_t> all;
  for (int r = 0; r < 4; ++r) {
    auto rows = rank_rows(103, 8, r, 4);
    EXPECT_EQ(rows.size(), 12u * 2u);
    all.insert(all.end(), rows.begin(), rows.end());
  }
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < static_cast<int64_t>(all.size()); ++i) EXPECT_EQ(all[i], i);
  EXPECT_EQ(batch_split_problem(64, 1, "--batch-size"), "");
  EXPECT_EQ(batch_split_problem(64, 4, "--batch-size"), "");
  EXPECT_TRUE(contains(batch_split_problem(16, 3, "--batch-size"), "use a multiple of 3 (15 or 18)"));
  EXPECT_TRUE(contains(batch_split_problem(2, 3, "--batch-size"), "is smaller than the 3 processes"));
  EXPECT_TRUE(contains(error_of([] { rank_slice(16, 0, 3); }), "cannot share"));

  // The split a rank keeps: its rows, labels with them.
  Split s{Tensor::zeros({26, 3, 1, 1}, DType::UInt8), batch_ids(26, Device::cpu())};
  for (int64_t i = 0; i < 26; ++i) s.images.data<uint8_t>()[i * 3] = static_cast<uint8_t>(i);
  Split mine = rank_split(s, 6, 1, 2, Device::cpu());
  ASSERT_EQ(mine.size(), 12);
  EXPECT_EQ(mine.labels.to_vector<int64_t>(), rank_rows(26, 6, 1, 2));
  EXPECT_EQ(mine.images.data<uint8_t>()[3 * 3], 9);
}

TEST(Settings, TheFirstDifferenceIsNamed) {
  nlohmann::json a = {{"lr", 0.01}, {"net", "resnet18"}, {"batch_size", 64}};
  nlohmann::json b = a;
  EXPECT_EQ(settings_difference(a, b), "");
  b["batch_size"] = 32;
  EXPECT_EQ(settings_difference(b, a), "--batch-size 32 (rank 0: 64)");
  b.erase("batch_size");
  EXPECT_EQ(settings_difference(b, a), "--batch-size (unset) (rank 0: 64)");
}

TEST(SingleProcess, CollectivesLeaveTensorsAsTheyAre) {
  auto one = single_process_communicator(Device::cpu());
  EXPECT_EQ(one->size(), 1);
  EXPECT_EQ(one->rank(), 0);
  Tensor t = Tensor::from_vector<float>({1, 2, 3}, {3});
  one->all_reduce_sum(t);
  one->all_gather(t);
  one->broadcast(t, 0);
  EXPECT_TRUE(one->start_all_reduce_sum(t)->test());
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(broadcast_text(*one, "abc"), "abc");
  EXPECT_TRUE(any_rank(*one, true));
  EXPECT_EQ(gather_values(*one, 7), (std::vector<int64_t>{7}));
  EXPECT_EQ(one->duplicate()->size(), 1);
}

TEST(ThreadRanksTest, CollectivesCombineTheRanks) {
  ThreadRanks(3).run([](const Communicator& c) {
    Tensor t = Tensor::full({2}, c.rank() + 1.0, DType::Float64);
    c.all_reduce_sum(t);
    EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{6, 6}));
    EXPECT_EQ(gather_values(c, 10 * c.rank()), (std::vector<int64_t>{0, 10, 20}));
    EXPECT_EQ(broadcast_text(c, c.rank() == 0 ? "root" : "other"), "root");
    EXPECT_TRUE(any_rank(c, c.rank() == 2));
    EXPECT_FALSE(any_rank(c, false));
  });
}

namespace {

// One step of `net` (float64) on rows [begin, begin + count) of (x, y) with the loss weighted by
// 1 / batch; `comm` (when given) sums the gradients over the ranks in buckets of `cap` bytes.
void one_step(Module& net, const Tensor& x, const Tensor& y, int64_t begin, int64_t count, int64_t batch,
              const Communicator* comm, int64_t cap, SelectionState* sel = nullptr) {
  TrainStep step(net, SgdOptions{0.05, 0.9, 1e-4, false}, count, DType::Float64, Device::cpu());
  std::unique_ptr<GradientSync> sync;
  if (comm) {
    sync = std::make_unique<GradientSync>(net, *comm, cap);
    step.set_gradient_sync(sync.get(), batch);
  }
  const Tensor lr = Tensor::full({1}, 0.05, DType::Float64);
  for (int s = 0; s < 2; ++s) {
    Tensor losses = step.forward(x.slice(begin, begin + count), y.slice(begin, begin + count));
    if (sel) {
      Tensor id = sel->choose_batch(s);
      sel->record(losses.detach(), id, s);
    }
    step.update(losses, lr);
    if (sync && cap > 0 && cap < 1000) {
      EXPECT_GT(sync->started_during_backward(), 0);
    }
  }
}

void expect_same_parameters(const Module& a, const Module& b, double tol, const std::string& what) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_LT(max_abs_diff(pa[i].second, pb[i].second), tol) << what << pa[i].first;
}

}  // namespace

TEST(GradientSyncRanks, BucketedSumsEqualTheWholeBatchGradient) {
  auto [x, y] = test::clusters(12, 6, 3, 5);
  x = x.to(DType::Float64);
  TinyNet whole(6, 7, 3, 9);
  whole.to(DType::Float64);
  one_step(whole, x, y, 0, 12, 12, nullptr, 0);
  for (int ranks : {2, 3})
    for (int64_t cap : {int64_t{0}, int64_t{64}, int64_t{1} << 20}) {
      std::vector<std::unique_ptr<TinyNet>> nets;
      for (int r = 0; r < ranks; ++r) {
        nets.push_back(std::make_unique<TinyNet>(6, 7, 3, 9));
        nets.back()->to(DType::Float64);
      }
      ThreadRanks(ranks).run([&](const Communicator& c) {
        const int64_t part = 12 / ranks;
        one_step(*nets[c.rank()], x, y, c.rank() * part, part, 12, &c, cap);
      });
      for (int r = 0; r < ranks; ++r)
        expect_same_parameters(*nets[r], whole, 1e-14, std::to_string(ranks) + " ranks, cap " + std::to_string(cap));
    }
}

TEST(DataParallelRanks, SyncBatchNormStepsEqualOneProcess) {
  // MobileNetV3-Small (BatchNorm, SE, hard-swish) at 32 px, float64: two steps on 4 samples in one
  // process, and on 2 + 2 samples in two ranks with --sync-bn; the global batch loss is recorded.
  Generator g0(3);
  Tensor x = Tensor::normal({4, 3, 32, 32}, 0.0, 1.0, g0, DType::Float64);
  Tensor y = Tensor::from_vector<int64_t>({1, 4, 2, 0}, {4});
  auto make = [] {
    Generator g(11);
    auto net = create_net("mobilenetv3_small_100", 5, g);
    net->to(DType::Float64);
    return net;
  };
  SchedulePlan plan = make_schedule(1, 1.0, 2);
  auto whole = make();
  SelectionState sel_whole(plan, Device::cpu(), 4);
  one_step(*whole, x, y, 0, 4, 4, nullptr, 0, &sel_whole);
  std::vector<std::shared_ptr<Module>> nets = {make(), make()};
  std::vector<std::unique_ptr<SelectionState>> sels;
  for (int r = 0; r < 2; ++r) sels.push_back(std::make_unique<SelectionState>(plan, Device::cpu(), 4));
  ThreadRanks(2).run([&](const Communicator& c) {
    DataParallelOptions o;
    o.sync_bn = true;
    DataParallel dp(*nets[c.rank()], c, c, o);
    sels[c.rank()]->set_collective(&c);
    one_step(*nets[c.rank()], x, y, 2 * c.rank(), 2, 4, &c, 1 << 20, sels[c.rank()].get());
  });
  for (int r = 0; r < 2; ++r) {
    expect_same_parameters(*nets[r], *whole, 1e-9, "rank " + std::to_string(r) + " ");
    EXPECT_LT(max_abs_diff(sels[r]->score(), sel_whole.score()), 1e-6);  // float32 scores
    auto bn = nets[r]->named_buffers(), bw = whole->named_buffers();
    for (size_t i = 0; i < bn.size(); ++i) EXPECT_LT(max_abs_diff(bn[i].second, bw[i].second), 1e-10) << bn[i].first;
  }
}
