// Fault tests: checkpoints that are cut short or have a flipped bit are rejected, the run folder is
// checked for writability and free space before training, and the train program, killed with
// SIGKILL at random steps or hit by a failing write, resumes to the files of an uninterrupted run.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "support/test_util.h"
#include "support/train_util.h"
#include "support/run_util.h"
#include "tools/tool_common.h"
#include "train/checkpoint.h"
#include "train/files.h"
#include "train/preflight.h"
#include "train/run_log.h"

extern char** environ;

using namespace dybat;
using dybat::test::error_of;
using dybat::test::TinyNet;

namespace {

CheckpointState small_state(int64_t step, const TinyNet& net) {
  CheckpointState st;
  st.step = step;
  st.score = Tensor::from_vector<float>({0.5f, 1.5f, 2.5f}, {3});
  st.order = Tensor::from_vector<int64_t>({2, 0, 1}, {3});
  for (auto& [name, p] : net.named_parameters()) st.momentum.emplace_back(name, p.zeros_like().fill_(0.25));
  st.backend = "tf32_conv=0";
  return st;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(Crc32, KnownValuesAndChaining) {
  EXPECT_EQ(crc32("", 0), 0u);
  EXPECT_EQ(crc32("123456789", 9), 0xcbf43926u);  // the standard check value of CRC-32
  EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog", 43), 0x414fa339u);
  std::string text(1000, '\0');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 31 + i / 7);
  for (size_t cut : {0, 1, 7, 8, 9, 500, 999})  // every split point gives the same as one pass
    EXPECT_EQ(crc32(text.data() + cut, text.size() - cut, crc32(text.data(), cut)), crc32(text.data(), text.size()))
        << cut;
}

TEST(CheckpointFaults, TruncatedFilesAreRejected) {
  const std::string dir = test::temp_dir("fault_trunc");
  TinyNet a(4, 5, 3, 1), b(4, 5, 3, 2);
  save_checkpoint(dir, a, small_state(5, a));
  for (const char* name : {"model.safetensors", "state.safetensors"}) {
    const std::string path = dir + "/" + name, whole = read_file(path);
    for (size_t keep : {size_t{0}, size_t{5}, size_t{8}, size_t{40}, whole.size() / 2, whole.size() - 1}) {
      write_file_atomic(path, whole.substr(0, keep));
      std::string msg = error_of([&] { load_checkpoint(dir, b); });
      EXPECT_TRUE(contains(msg, path) && (contains(msg, "damaged") || contains(msg, "truncated")))
          << name << " cut to " << keep << " bytes: " << msg;
    }
    write_file_atomic(path, whole);
  }
  EXPECT_EQ(load_checkpoint(dir, b).step, 5);
  std::filesystem::remove_all(dir);
}

TEST(CheckpointFaults, EveryFlippedBitIsRejected) {
  const std::string dir = test::temp_dir("fault_flip");
  TinyNet a(4, 5, 3, 1), b(4, 5, 3, 2);
  save_checkpoint(dir, a, small_state(12, a));
  for (const char* name : {"model.safetensors", "state.safetensors"}) {
    const std::string path = dir + "/" + name, whole = read_file(path);
    int rejected = 0;
    for (size_t i = 0; i < whole.size(); ++i) {
      std::string bad = whole;
      bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));  // every byte, a different bit each time
      write_file_atomic(path, bad);
      std::string msg = error_of([&] { load_checkpoint(dir, b); });
      if (contains(msg, path))
        ++rejected;
      else
        ADD_FAILURE() << name << ": bit " << i % 8 << " of byte " << i
                      << " flipped: " << (msg.empty() ? "loaded" : msg);
    }
    EXPECT_EQ(rejected, static_cast<int>(whole.size())) << name;
    write_file_atomic(path, whole);
  }
  // The undamaged pair still loads, with a's weights.
  EXPECT_EQ(load_checkpoint(dir, b).step, 12);
  EXPECT_EQ(a.parameters()[0].to_vector<float>(), b.parameters()[0].to_vector<float>());
  std::filesystem::remove_all(dir);
}

TEST(CheckpointFaults, ChecksumMismatchSaysSo) {
  const std::string dir = test::temp_dir("fault_crc");
  TinyNet a(4, 5, 3, 1);
  save_checkpoint(dir, a, small_state(3, a));
  const std::string path = dir + "/model.safetensors";
  std::string bytes = read_file(path);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x10);  // inside the last weight
  write_file_atomic(path, bytes);
  std::string msg = error_of([&] { has_checkpoint(dir); });
  EXPECT_TRUE(contains(msg, "is damaged: its CRC-32 is")) << msg;
  // The same file given as --weights is checked too; a file without a checksum (from elsewhere) loads.
  EXPECT_TRUE(contains(error_of([&] { load_model_file(a, path); }), "CRC-32")) << path;
  write_safetensors(dir + "/plain.safetensors", a.state_dict());
  EXPECT_NO_THROW(load_model_file(a, dir + "/plain.safetensors"));
  std::filesystem::remove_all(dir);
}

TEST(Preflight, WritableFolders) {
  const std::string dir = test::temp_dir("preflight");
  EXPECT_NO_THROW(check_writable(dir, "--out"));
  EXPECT_NO_THROW(check_writable(dir + "/new/run", "--out"));  // created later under a writable parent
  EXPECT_TRUE(std::filesystem::is_empty(dir));                 // the test leaves nothing behind
  write_file_atomic(dir + "/file", "x");
  EXPECT_TRUE(contains(error_of([&] { check_writable(dir + "/file/run", "--out"); }), "is not a folder"));
  std::filesystem::create_directories(dir + "/ro");
  ::chmod((dir + "/ro").c_str(), 0555);
  std::string msg = error_of([&] { check_writable(dir + "/ro/run", "--out"); });
  EXPECT_TRUE(contains(msg, "--out " + dir + "/ro/run") && contains(msg, "cannot create files")) << msg;
  EXPECT_TRUE(contains(error_of([&] { check_writable(dir + "/ro", "--resume"); }), "--resume")) << msg;
  ::chmod((dir + "/ro").c_str(), 0755);
  std::filesystem::remove_all(dir);
}

TEST(Preflight, FreeSpaceForTwoCheckpoints) {
  const std::string dir = test::temp_dir("preflight_space");
  TinyNet a(4, 5, 3, 1);
  save_checkpoint(dir, a, small_state(1, a));
  // The estimate covers what is written, without being far off.
  const uint64_t actual =
      std::filesystem::file_size(dir + "/model.safetensors") + std::filesystem::file_size(dir + "/state.safetensors");
  const uint64_t estimate = checkpoint_bytes(a, 3, true);
  EXPECT_GE(estimate, actual);
  EXPECT_LE(estimate, actual + 64 * 1024);
  EXPECT_GT(free_bytes(dir), 0u);
  set_free_space_hook([&](const std::string&) { return 2 * estimate + 999; });
  EXPECT_EQ(free_bytes(dir + "/not/yet"), 2 * estimate + 999);
  EXPECT_NO_THROW(check_free_space(dir, estimate, 999, "--out"));
  std::string msg = error_of([&] { check_free_space(dir, estimate, 1000, "--out"); });
  EXPECT_TRUE(contains(msg, "not enough free space") && contains(msg, "--out")) << msg;
  set_free_space_hook(nullptr);
  std::filesystem::remove_all(dir);
}

TEST(OutOfMemory, DeviceAllocationFailuresAreRecognised) {
  // The messages of the caching allocator and of CUDA, cuBLAS and cuDNN allocation failures (the
  // train and eval programs add the net, batch and crop to these and suggest a smaller batch).
  for (const char* m : {"out of GPU memory on cuda:0 allocating 1024 bytes (0 bytes in use); hint: try a smaller",
                        "CUDA error cudaErrorMemoryAllocation (out of memory) in cudaMalloc(&p, n)",
                        "cuBLAS error CUBLAS_STATUS_ALLOC_FAILED in cublasSgemm(...)",
                        "cuDNN error CUDNN_STATUS_ALLOC_FAILED in cudnnConvolutionForward(...)"})
    EXPECT_TRUE(tools::is_out_of_memory(Error(m, "x.cpp", 1))) << m;
  EXPECT_FALSE(tools::is_out_of_memory(Error("--batch-size 64 is larger than the training split", "x.cpp", 1)));
}

// ---- The train program under faults --------------------------------------------------------

namespace {

struct Exit {
  int code = -1;   // exit code, or -1 when killed
  int signal = 0;  // the signal that ended it
  std::string output;
};

// Runs the built train program with `args`, extra environment variables `env` ("NAME=value"),
// stdout and stderr into one captured text; waits for it.
Exit run_train(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  const std::string log = test::temp_dir("fault_log") + "/out.txt";
  std::vector<std::string> argv_s = {test::program_path("train")};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = {"OMP_NUM_THREADS=2"};
  env_s.insert(env_s.end(), env.begin(), env.end());
  for (char** e = environ; *e; ++e) {
    std::string v = *e, name = v.substr(0, v.find('='));
    bool overridden = false;
    for (const auto& o : env_s) overridden = overridden || o.substr(0, o.find('=')) == name;
    if (!overridden) env_s.push_back(v);
  }
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  Exit r;
  int err = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) {
    r.output = std::string("cannot start ") + argv[0] + ": " + std::strerror(err);
    return r;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.output = read_file(log);
  std::filesystem::remove_all(std::filesystem::path(log).parent_path());
  return r;
}

// A quick DyBAT run: MobileNetV3-Small on 32 synthetic images at 32 px, batch 8 (b = 4, k = 2),
// three epochs = 12 steps, an evaluation (and checkpoint) every 4 steps.
std::vector<std::string> quick(const std::string& out) {
  return {"--net",         "mobilenetv3_small_100",
          "--dataset",     "synthetic",
          "--device",      "cpu",
          "--crop",        "32",
          "--batch-size",  "8",
          "--train-limit", "32",
          "--test-limit",  "8",
          "--delta",       "0.5",
          "--epochs",      "3",
          "--out",         out};
}

std::string step_of(const std::string& path) {
  for (const auto& [k, v] : read_safetensors(path).metadata)
    if (k == "step") return v;
  return "";
}

bool no_temporaries(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (contains(e.path().filename().string(), ".tmp")) return false;
  return true;
}

}  // namespace

TEST(TrainFaults, KilledAndFailedRunsResumeToTheUninterruptedResult) {
  const std::string root = test::temp_dir("fault_runs");
  Exit whole = run_train(quick(root + "/whole"));
  ASSERT_EQ(whole.code, 0) << whole.output;
  const std::string expected = test::run_results(root + "/whole");
  ASSERT_EQ(parse_trace(read_file(root + "/whole/trace.csv")).size(), 12u);

  // SIGKILL at a step drawn by a seeded generator: the last checkpoint is the evaluation before.
  std::mt19937 rng(20240607);
  const int kill_step = std::uniform_int_distribution<int>(1, 11)(rng);
  const int kept = (kill_step - 1) / 4 * 4;
  const std::string dir = root + "/run";
  Exit killed = run_train(quick(dir), {"DYBAT_FAULT_KILL_AT_STEP=" + std::to_string(kill_step)});
  ASSERT_EQ(killed.signal, SIGKILL) << "kill at step " << kill_step << ": exit " << killed.code << "\n"
                                    << killed.output;

  // The resumed run cannot write its next checkpoint (step kept + 4): exit 2 with a clear message,
  // the checkpoint it resumed from left intact, no temporary files.
  Exit failed = run_train({"--resume", dir}, {"DYBAT_FAULT_WRITE=state.safetensors:1"});
  EXPECT_EQ(failed.code, 2) << failed.output;
  EXPECT_TRUE(contains(failed.output, "resumed at step " + std::to_string(kept))) << failed.output;
  EXPECT_TRUE(contains(failed.output, "the checkpoint of step " + std::to_string(kept + 4) + " could not be written"))
      << failed.output;
  EXPECT_TRUE(contains(failed.output, kept > 0 ? "the last good checkpoint (step " + std::to_string(kept) + ") is kept"
                                               : std::string("no checkpoint was written before")))
      << failed.output;
  EXPECT_TRUE(no_temporaries(dir));
  EXPECT_EQ(has_checkpoint(dir), kept > 0);
  if (kept > 0) {
    EXPECT_EQ(step_of(dir + "/state.safetensors"), std::to_string(kept));
  }

  // Resumed once more, the run ends with the uninterrupted run's trace, metrics and model.
  Exit done = run_train({"--resume", dir});
  ASSERT_EQ(done.code, 0) << done.output;
  EXPECT_TRUE(contains(done.output, "resumed at step " + std::to_string(kept))) << done.output;
  EXPECT_TRUE(test::run_results(dir) == expected) << "killed at step " << kill_step
                                        << ": the resumed run's files differ from the uninterrupted run's";
  EXPECT_TRUE(no_temporaries(dir));
  std::filesystem::remove_all(root);
}

TEST(TrainFaults, SelectionMethodsResumeAfterAKill) {
  // The methods with device state of their own (Selective-Backprop's history and queue,
  // InfoBatch's scores and epoch plan) through the program: killed at step 6, resumed from the
  // checkpoint of step 4, they end as the unbroken run; a changed method setting is refused.
  // Six short runs: about 10 s.
  const std::string root = test::temp_dir("fault_select");
  for (const char* method : {"selective-backprop", "infobatch"}) {
    SCOPED_TRACE(method);
    auto args = [&](const std::string& out) {
      std::vector<std::string> a = quick(out);
      for (size_t i = 0; i + 1 < a.size(); ++i)
        if (a[i] == "--delta") a[i + 1] = "1";
      a.insert(a.end(), {"--select", method});
      return a;
    };
    const std::string whole = root + "/whole-" + method, dir = root + "/run-" + method;
    Exit w = run_train(args(whole));
    ASSERT_EQ(w.code, 0) << w.output;
    Exit killed = run_train(args(dir), {"DYBAT_FAULT_KILL_AT_STEP=6"});
    ASSERT_EQ(killed.signal, SIGKILL) << killed.output;
    const std::string flag = std::string(method) == "infobatch" ? "--anneal" : "--beta";
    Exit refused = run_train({"--resume", dir, flag, "0.5"});
    EXPECT_EQ(refused.code, 2) << refused.output;
    EXPECT_TRUE(contains(refused.output, flag)) << refused.output;
    Exit done = run_train({"--resume", dir});
    ASSERT_EQ(done.code, 0) << done.output;
    EXPECT_TRUE(contains(done.output, "resumed at step 4")) << done.output;
    EXPECT_TRUE(test::run_results(dir) == test::run_results(whole)) << "the resumed run's files differ";
  }
  std::filesystem::remove_all(root);
}

TEST(TrainFaults, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  const std::string root = test::temp_dir("fault_nan");
  // From the second epoch on the learning rate is multiplied by 1e30: the loss overflows.
  std::vector<std::string> args = quick(root + "/run");
  for (const char* a : {"--lr-schedule", "step", "--lr-step-epochs", "1", "--lr-gamma", "1e30"}) args.push_back(a);
  Exit r = run_train(args);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "is not finite at step") && contains(r.output, "last good checkpoint (step 4)"))
      << r.output;
  EXPECT_TRUE(has_checkpoint(root + "/run"));
  EXPECT_EQ(step_of(root + "/run/state.safetensors"), "4");
  EXPECT_EQ(parse_trace(read_file(root + "/run/trace.csv")).size(), 4u);  // nothing of the bad interval
  std::filesystem::remove_all(root);
}

TEST(TrainFaults, UnwritableOrFullOutputIsReportedBeforeTraining) {
  const std::string root = test::temp_dir("fault_out");
  std::filesystem::create_directories(root + "/ro");
  ::chmod((root + "/ro").c_str(), 0555);
  Exit ro = run_train(quick(root + "/ro/run"));
  ::chmod((root + "/ro").c_str(), 0755);
  EXPECT_EQ(ro.code, 2) << ro.output;
  EXPECT_TRUE(contains(ro.output, "--out " + root + "/ro/run") && contains(ro.output, "cannot create files"))
      << ro.output;
  EXPECT_FALSE(contains(ro.output, "dybat train:")) << "reported only after loading: " << ro.output;

  // Too little space for two checkpoints: reported before the run folder is started.
  Exit full = run_train(quick(root + "/full"), {"DYBAT_FAULT_FREE_BYTES=1000000"});
  EXPECT_EQ(full.code, 2) << full.output;
  EXPECT_TRUE(contains(full.output, "not enough free space")) << full.output;
  EXPECT_FALSE(std::filesystem::exists(root + "/full/config.json"));
  EXPECT_FALSE(contains(full.output, "step 1/")) << full.output;
  std::filesystem::remove_all(root);
}
