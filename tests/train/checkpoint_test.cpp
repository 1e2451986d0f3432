// Checkpoints and run files: round trips, the commit protocol under injected write faults and
// interrupted commits, truncation for resume, and the trace's 9-digit format.
#include "train/checkpoint.h"

#include <filesystem>

#include "support/test_util.h"
#include "support/train_util.h"
#include "train/files.h"
#include "train/run_log.h"

using namespace dybat;
using dybat::test::TinyNet;

namespace {

CheckpointState state_at(int64_t step, const TinyNet& net) {
  CheckpointState st;
  st.step = step;
  st.pass = 1;
  st.position = 2;
  st.score = Tensor::from_vector<float>({0.5f, 1.5f, static_cast<float>(step)}, {3});
  st.order = Tensor::from_vector<int64_t>({2, 0, 1}, {3});
  for (auto& [name, p] : net.named_parameters()) st.momentum.emplace_back(name, p.zeros_like().fill_(0.25));
  st.seed = 7;
  st.elapsed_s = 12.5;
  st.backend = "tf32_conv=1";
  return st;
}

// Fails every write of a file with this name while alive.
struct FailWrites {
  explicit FailWrites(std::string name) {
    set_write_fault_hook([name](const std::string& path) {
      if (std::filesystem::path(path).filename() == name) DYBAT_FAIL("injected fault writing ", path);
    });
  }
  ~FailWrites() { set_write_fault_hook(nullptr); }
};

}  // namespace

TEST(Checkpoint, RoundTrip) {
  std::string dir = test::temp_dir("ckpt_roundtrip");
  TinyNet a(4, 5, 3, 1), b(4, 5, 3, 2);
  save_checkpoint(dir, a, state_at(9, a));
  CheckpointState st = load_checkpoint(dir, b);
  EXPECT_EQ(st.step, 9);
  EXPECT_EQ(st.pass, 1);
  EXPECT_EQ(st.position, 2);
  EXPECT_EQ(st.seed, 7u);
  EXPECT_EQ(st.elapsed_s, 12.5);
  EXPECT_EQ(st.backend, "tf32_conv=1");
  EXPECT_EQ(st.order.to_vector<int64_t>(), (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(st.score.to_vector<float>()[2], 9.0f);
  ASSERT_EQ(st.momentum.size(), 4u);
  EXPECT_EQ(st.momentum[0].first, "fc1.weight");
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(a.parameters()[i].to_vector<float>(), b.parameters()[i].to_vector<float>());
  // The model file is a plain state_dict by name (what PyTorch's load_state_dict(strict=True) needs).
  SafetensorsContents m = read_safetensors(dir + "/model.safetensors");
  ASSERT_EQ(m.tensors.size(), 4u);
  EXPECT_EQ(m.tensors[3].first, "fc2.bias");
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, FailedWriteKeepsThePreviousCheckpoint) {
  std::string dir = test::temp_dir("ckpt_fault");
  TinyNet a(4, 5, 3, 1), b(4, 5, 3, 2);
  save_checkpoint(dir, a, state_at(3, a));
  std::string model = read_file(dir + "/model.safetensors"), state = read_file(dir + "/state.safetensors");
  for (const char* name : {"model.safetensors", "state.safetensors"}) {
    FailWrites fault(name);
    EXPECT_THROW(save_checkpoint(dir, b, state_at(4, b)), Error);
    EXPECT_EQ(read_file(dir + "/model.safetensors"), model) << name;
    EXPECT_EQ(read_file(dir + "/state.safetensors"), state) << name;
    EXPECT_FALSE(file_exists(dir + "/model.safetensors.tmp")) << name;
    EXPECT_FALSE(file_exists(dir + "/state.safetensors.tmp")) << name;
  }
  TinyNet c(4, 5, 3, 3);
  EXPECT_EQ(load_checkpoint(dir, c).step, 3);
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, WriteFaultHookFailsTheWriteAndKeepsTheFile) {
  int writes_of_x = 0;  // the second write of x.txt fails
  set_write_fault_hook([&](const std::string& path) {
    if (path.ends_with("/x.txt") && ++writes_of_x == 2) DYBAT_FAIL("cannot write '", path, "': injected fault");
  });
  std::string dir = test::temp_dir("env_fault");
  EXPECT_NO_THROW(write_file_atomic(dir + "/x.txt", "1"));
  EXPECT_NO_THROW(write_file_atomic(dir + "/y.txt", "1"));
  EXPECT_THROW(write_file_atomic(dir + "/x.txt", "2"), Error);
  EXPECT_NO_THROW(write_file_atomic(dir + "/x.txt", "3"));
  EXPECT_EQ(read_file(dir + "/x.txt"), "3");
  set_write_fault_hook(nullptr);
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, CrashBetweenTheTwoRenamesIsRecovered) {
  std::string dir = test::temp_dir("ckpt_crash"), next = test::temp_dir("ckpt_next");
  TinyNet a(4, 5, 3, 1), b(4, 5, 3, 2);
  save_checkpoint(dir, a, state_at(3, a));
  save_checkpoint(next, b, state_at(6, b));
  // The state of step 6 is committed; its model is still the temporary file.
  std::filesystem::copy_file(next + "/state.safetensors", dir + "/state.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(next + "/model.safetensors", dir + "/model.safetensors.tmp");
  TinyNet c(4, 5, 3, 3);
  EXPECT_EQ(load_checkpoint(dir, c).step, 6);
  EXPECT_EQ(c.parameters()[0].to_vector<float>(), b.parameters()[0].to_vector<float>());
  EXPECT_FALSE(file_exists(dir + "/model.safetensors.tmp"));
  // A crash before the commit point: stale temporaries are dropped, the old pair stays.
  save_checkpoint(dir, a, state_at(7, a));
  std::filesystem::copy_file(next + "/model.safetensors", dir + "/model.safetensors.tmp");
  std::filesystem::copy_file(next + "/state.safetensors", dir + "/state.safetensors.tmp");
  EXPECT_EQ(load_checkpoint(dir, c).step, 7);
  EXPECT_FALSE(file_exists(dir + "/state.safetensors.tmp"));
  // A model from another step without a matching temporary: damaged.
  std::filesystem::copy_file(next + "/model.safetensors", dir + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_THROW(load_checkpoint(dir, c), Error);
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(next);
}

TEST(Checkpoint, StrictModelNames) {
  std::string dir = test::temp_dir("ckpt_names");
  TinyNet a(4, 5, 3, 1), wider(4, 6, 3, 1);
  save_checkpoint(dir, a, state_at(1, a));
  EXPECT_THROW(load_model_file(wider, dir + "/model.safetensors"), Error);
  EXPECT_THROW(load_model_file(a, dir + "/missing.safetensors"), Error);
  const std::string empty = test::temp_dir("ckpt_empty");
  EXPECT_FALSE(has_checkpoint(empty));
  std::filesystem::remove_all(empty);
  std::filesystem::remove_all(dir);
}

TEST(RunLog, TraceFormatRoundTripsFloats) {
  std::vector<TraceRow> rows = {{1, 0, 2.30258512f}, {2, 11, 0.1f}, {3, 5, 1e-8f}, {4, 2, 123456.789f}};
  std::string text = "step,batch_id,loss\n" + format_trace(rows);
  EXPECT_EQ(text, "step,batch_id,loss\n1,0,2.30258512\n2,11,0.100000001\n3,5,9.99999994e-09\n4,2,123456.789\n");
  std::vector<TraceRow> back = parse_trace(text);
  ASSERT_EQ(back.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(back[i].loss, rows[i].loss);
  EXPECT_EQ(parse_trace(text + "5,1,0.5").size(), 4u);  // an unterminated last line is dropped
  EXPECT_EQ(parse_trace(text + "5,1").size(), 4u);
  EXPECT_THROW(parse_trace(text + "garbage\n5,1,0.5\n"), Error);
}

TEST(RunLog, StartRefusesAnExistingRunAndTruncates) {
  std::string dir = test::temp_dir("runlog");
  RunLog log(dir);
  log.start(nlohmann::json{{"net", "tiny"}});
  EXPECT_THROW(RunLog(dir).start(nlohmann::json::object()), Error);
  EXPECT_EQ(log.read_config()["net"], "tiny");
  log.append_trace({{1, 0, 1.0f}, {2, 1, 2.0f}, {3, 0, 3.0f}});
  MetricsRow r;
  for (int64_t s : {2, 4}) {
    r.step = s;
    r.epoch = s / 2.0;
    r.test.top1 = 50;
    log.append_metrics(r);
  }
  std::string csv = read_file(dir + "/metrics.csv");
  EXPECT_NE(csv.find("\n2,1,0,0,0,0,0,50,0,0,0.000,0.0\n"), std::string::npos) << csv;
  log.truncate_to(2);
  EXPECT_EQ(read_file(dir + "/trace.csv"), "step,batch_id,loss\n1,0,1\n2,1,2\n");
  EXPECT_EQ(read_file(dir + "/metrics.csv"), metrics_csv_header() + "2,1,0,0,0,0,0,50,0,0,0.000,0.0\n");
  EXPECT_EQ(read_file(dir + "/metrics.jsonl").find("\"step\":4"), std::string::npos);
  EXPECT_THROW(log.truncate_to(3), Error);  // fewer trace rows than the checkpoint's step
  std::filesystem::remove_all(dir);
}
