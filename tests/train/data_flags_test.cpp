// The data-related training flags: --labels, --order, --permute, --augment, --cache-dir on the
// command line and in config.json, and the per-step augmentation of the training batches.
#include "core/error.h"
#include "data/dataset.h"
#include "support/test_util.h"
#include "train/batches.h"
#include "train/config.h"
#include "train/trainer.h"
#include "support/train_util.h"

using namespace dybat;

TEST(TrainCliData, DefaultsAndValues) {
  TrainConfig d = parse_train_args({"--net", "resnet18"}).config;
  EXPECT_EQ(d.labels, "fine");
  EXPECT_EQ(d.order, "shuffled");
  EXPECT_FALSE(d.permute);
  EXPECT_EQ(d.augment, "none");
  EXPECT_EQ(d.cache_dir, "");
  TrainConfig c = parse_train_args({"--net", "resnet18", "--labels", "coarse", "--order", "file", "--permute",
                                    "--augment", "crop,flip", "--cache-dir", "/tmp/c"})
                      .config;
  EXPECT_EQ(c.labels, "coarse");
  EXPECT_EQ(c.order, "file");
  EXPECT_TRUE(c.permute);
  EXPECT_EQ(c.augment, "crop,flip");
  EXPECT_EQ(c.cache_dir, "/tmp/c");
  validate_config(c);
  TrainConfig back = config_from_json(config_to_json(c));
  EXPECT_EQ(config_to_json(back), config_to_json(c));
}

TEST(TrainCliData, BadValuesAreRejected) {
  EXPECT_THROW(parse_train_args({"--net", "resnet18", "--labels", "medium"}), CliExit);
  EXPECT_THROW(parse_train_args({"--net", "resnet18", "--order", "random"}), CliExit);
  TrainConfig c = parse_train_args({"--net", "resnet18", "--augment", "rotate"}).config;
  EXPECT_THROW(validate_config(c), Error);
}

TEST(TrainCliData, ResumeRejectsADifferentAugmentation) {
  TrainConfig saved = parse_train_args({"--net", "resnet18", "--augment", "flip"}).config;
  ParsedArgs cli = parse_train_args({"--resume", "x", "--augment", "crop"});
  EXPECT_THROW(merge_resume_config(saved, cli), Error);
  ParsedArgs same = parse_train_args({"--resume", "x", "--augment", "flip"});
  EXPECT_EQ(merge_resume_config(saved, same).augment, "flip");
}

namespace {
Split synthetic_split() {
  DataOptions o;
  o.dataset = "synthetic";
  o.synthetic_train = 16;
  o.synthetic_test = 8;
  o.crop = 32;
  return load_dataset(o).train;
}

std::vector<float> batch_at(LoaderBatches& src, int64_t step) {
  Tensor x = Tensor::empty(src.input_shape()), y = Tensor::empty({src.batch_size()}, DType::Int64);
  src.set_step(step);
  src.gather(batch_ids(src.num_batches(), Device::cpu()).slice(1, 2), x, y);
  return x.to_vector<float>();
}
}  // namespace

TEST(TrainCliData, AugmentationFollowsTheStep) {
  Split s = synthetic_split();
  LoaderBatches plain(s, 8, 32), aug(s, 8, 32, parse_augment("crop,flip"), 7);
  // Without augmentation the step does not matter; with it, each step has its own batch, and
  // the same step gives the same batch again (so a resumed run augments identically).
  EXPECT_EQ(batch_at(plain, 0), batch_at(plain, 5));
  std::vector<float> a3 = batch_at(aug, 3);
  EXPECT_NE(a3, batch_at(aug, 4));
  EXPECT_EQ(a3, batch_at(aug, 3));
  EXPECT_NE(a3, batch_at(plain, 3));
}

TEST(TrainCliData, TrainMetricsAreNotAugmented) {
  // With an augmenting training source, the training split's metrics come from the plain source
  // given to evaluate_train_on: they equal a separate evaluation of the final weights on it.
  Split s = synthetic_split();
  LoaderBatches aug(s, 8, 32, parse_augment("crop,flip"), 3), plain(s, 8, 32);
  DataOptions o;
  o.dataset = "synthetic";
  o.synthetic_train = 16;
  o.synthetic_test = 8;
  LoaderBatches test(load_dataset(o).test, 8, 32);
  test::TinyNet net(3 * 32 * 32, 8, 10, 5);
  TrainConfig c;
  c.net = "tiny";
  c.epochs = 2;
  c.batch_size = 8;
  c.lr = 0.01;
  c.flush_seconds = 0;
  Trainer t(c, net, aug, test, Device::cpu(), DType::Float32, nullptr);
  t.evaluate_train_on(plain);
  TrainResult r = t.run();
  ASSERT_EQ(r.status, TrainStatus::Completed);
  SplitMetrics again = evaluate(net, plain, Mode::EvalBatchStats, DType::Float32);
  EXPECT_EQ(r.last.train.loss, again.loss);
  EXPECT_EQ(r.last.train.top1, again.top1);
  LoaderBatches other(s, 4, 32);
  EXPECT_THROW(t.evaluate_train_on(other), Error);
}
