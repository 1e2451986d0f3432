// The selection methods' CUDA kernels against their CPU twins on the same inputs: the choices
// (keys, keep flags, queues, plans, sample ids) must be identical, the values bit for bit.
#include <gtest/gtest.h>

#include <random>

#include "support/test_util.h"
#include "support/train_util.h"
#include "train/batches.h"
#include "train/select_common.h"
#include "train/select_infobatch.h"
#include "train/select_random.h"
#include "train/select_sb.h"
#include "train/selection.h"

using namespace dybat;

TEST(CudaParity, SelectRandomKeys) {
  DYBAT_REQUIRE_GPU();
  const Device g = Device::cuda();
  const int64_t b = 300, k = 77;
  for (int64_t step : {int64_t{0}, b, b + k, b + 3 * k + 1}) {
    Tensor step_c = Tensor::full({1}, static_cast<double>(step), DType::Int64);
    Tensor kc = Tensor::full({b}, -1.0), kg = kc.to(g);
    random_pass_keys(step_c, k, 5, kc);
    random_pass_keys(step_c.to(g), k, 5, kg);
    EXPECT_EQ(kg.to_vector<float>(), kc.to_vector<float>()) << "step " << step;
  }
}

TEST(CudaParity, SelectSelectiveBackprop) {
  DYBAT_REQUIRE_GPU();
  const Device g = Device::cuda();
  for (auto [B, W] : {std::pair<int64_t, int64_t>{8, 16}, {300, 100}, {64, 1024}}) {
    std::mt19937 rng(static_cast<unsigned>(B + W));
    Tensor hist = Tensor::zeros({W}), queue = Tensor::zeros({2 * B}, DType::Int64);
    Tensor state = Tensor::zeros({4}, DType::Int64), keep = Tensor::zeros({B}, DType::UInt8);
    Tensor id = Tensor::zeros({1}, DType::Int64), pend = Tensor::zeros({1}, DType::Int32);
    Tensor ids = Tensor::zeros({B}, DType::Int64);
    Tensor hg = hist.to(g), qg = queue.to(g), sg = state.to(g), kg = keep.to(g), ig = id.to(g), pg = pend.to(g);
    Tensor idsg = ids.to(g);
    for (int c = 0; c < 40; ++c) {
      sb_prepare(state, 7, B, id, pend);
      sb_prepare(sg, 7, B, ig, pg);
      ASSERT_EQ(pg.to_vector<int32_t>(), pend.to_vector<int32_t>());
      ASSERT_EQ(ig.to_vector<int64_t>(), id.to_vector<int64_t>());
      if (pend.to_vector<int32_t>()[0] == 0) {
        sb_take(queue, state, ids);
        sb_take(qg, sg, idsg);
        ASSERT_EQ(idsg.to_vector<int64_t>(), ids.to_vector<int64_t>());
        continue;
      }
      Tensor loss = Tensor::from_vector(test::grid_losses(rng, B), {B});
      sb_select(loss, id, hist, queue, state, keep, 3, 2.0);
      sb_select(loss.to(g), ig, hg, qg, sg, kg, 3, 2.0);
      ASSERT_EQ(kg.to_vector<uint8_t>(), keep.to_vector<uint8_t>()) << "B " << B << " batch " << c;
      ASSERT_EQ(sg.to_vector<int64_t>(), state.to_vector<int64_t>());
      ASSERT_EQ(hg.to_vector<float>(), hist.to_vector<float>());
    }
  }
}

TEST(CudaParity, SelectInfoBatch) {
  DYBAT_REQUIRE_GPU();
  const Device g = Device::cuda();
  std::mt19937 rng(2);
  for (int64_t n : {7, 1000, 50000}) {
    Tensor s = Tensor::from_vector(test::grid_losses(rng, n), {n});
    Tensor low = Tensor::zeros({n}, DType::UInt8), cnt = Tensor::zeros({1}, DType::Int64);
    Tensor lowg = low.to(g), cntg = cnt.to(g);
    infobatch_mark(s, low, cnt);
    infobatch_mark(s.to(g), lowg, cntg);
    ASSERT_EQ(cntg.to_vector<int64_t>(), cnt.to_vector<int64_t>()) << n;
    ASSERT_EQ(lowg.to_vector<uint8_t>(), low.to_vector<uint8_t>());
    Tensor keys = Tensor::zeros({n}), w = Tensor::zeros({n}), keysg = keys.to(g), wg = w.to(g);
    infobatch_plan(low, 9, 4, 2.0f, keys, w);
    infobatch_plan(lowg, 9, 4, 2.0f, keysg, wg);
    EXPECT_EQ(keysg.to_vector<float>(), keys.to_vector<float>());
    EXPECT_EQ(wg.to_vector<float>(), w.to_vector<float>());
    const int64_t k = n - cnt.to_vector<int64_t>()[0] / 2;
    Tensor kept = Tensor::zeros({n}, DType::Int64), keptg = kept.to(g);
    select_top_k(keys, k, kept);
    select_top_k(keysg, k, keptg);
    EXPECT_EQ(keptg.to_vector<int64_t>(), kept.to_vector<int64_t>());
    Tensor cursor = Tensor::full({1}, 1, DType::Int64), ids = Tensor::zeros({3}, DType::Int64), idsg = ids.to(g);
    infobatch_batch(kept, cursor, ids);
    infobatch_batch(keptg, cursor.to(g), idsg);
    EXPECT_EQ(idsg.to_vector<int64_t>(), ids.to_vector<int64_t>());
    Tensor loss = Tensor::from_vector<float>({0.5f, 1.5f, 2.5f}, {3}), d = Tensor::zeros({3}), dg = d.to(g);
    Tensor sc = s.clone(), scg = s.to(g);
    infobatch_record(loss, ids, w, 1.0 / 3.0, sc, d);
    infobatch_record(loss.to(g), idsg, wg, 1.0 / 3.0, scg, dg);
    EXPECT_EQ(dg.to_vector<float>(), d.to_vector<float>());
    EXPECT_EQ(scg.to_vector<float>(), sc.to_vector<float>());
  }
}

TEST(CudaParity, SelectSampleGathersAndTraceRow) {
  DYBAT_REQUIRE_GPU();
  const Device g = Device::cuda();
  std::vector<float> values(60);
  for (int i = 0; i < 60; ++i) values[i] = static_cast<float>(i);
  Tensor src = Tensor::from_vector(values, {20, 3});
  Tensor idx = Tensor::from_vector<int64_t>({19, 0, 7, 7}, {4});
  Tensor out = Tensor::zeros({4, 3}), outg = out.to(g);
  gather_by_index(src, idx, out);
  gather_by_index(src.to(g), idx.to(g), outg);
  EXPECT_EQ(outg.to_vector<float>(), out.to_vector<float>());
  Tensor c = Tensor::from_vector<int64_t>({4, 0, 0}, {3}), ids = Tensor::zeros({2}, DType::Int64);
  Tensor loss = Tensor::zeros({2}), bad = Tensor::zeros({1}, DType::Int64);
  Tensor cg = c.to(g), idsg = ids.to(g), lossg = loss.to(g), badg = bad.to(g);
  Tensor l = Tensor::from_vector<float>({0.1f, 0.2f, 0.7f}, {3});
  record_sample_loss(l, c, ids, loss, bad);
  record_sample_loss(l.to(g), cg, idsg, lossg, badg);
  EXPECT_EQ(cg.to_vector<int64_t>(), c.to_vector<int64_t>());
  EXPECT_EQ(idsg.to_vector<int64_t>(), ids.to_vector<int64_t>());
  EXPECT_EQ(lossg.to_vector<float>(), loss.to_vector<float>());
}
