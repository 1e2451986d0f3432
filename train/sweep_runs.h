// A sweep's run folders and the train processes that fill them.
//
// A run's state is read from its own files, so it is right whatever stopped the sweep:
//   done        config.json has the cell's epochs, and both checkpoint files (state.safetensors,
//               the commit point, and model.safetensors) are at the run's last step: never run again;
//   incomplete  config.json exists but the run is not done: continued with train --resume (and
//               --epochs, which may raise a finished run's budget);
//   failed      as incomplete or pending, but the sweep's last attempt ended with an error (not an
//               interrupt): reported, and tried again (resumed) by the next sweep;
//   pending     no config.json: started fresh (a folder holding only train.log is fine).
// After each attempt the sweep writes sweep_attempt.json into the folder (atomically): exit code
// or signal, seconds, device. The train program's output is appended to train.log there.
//
// Each run is a child process of the train program, in a process group of its own (a Ctrl-C in
// the terminal reaches only the sweep, which asks each running child once, with SIGTERM, to stop
// after its current step; a second signal is passed on too, which ends train at once). A child
// also gets SIGTERM when the sweep process dies (Linux's parent-death signal), so a killed sweep
// leaves folders that resume.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/sweep_grid.h"

namespace dybat {

enum class RunState { Pending, Incomplete, Done, Failed };
const char* run_state_name(RunState s);  // "pending", "incomplete", "done", "failed"

struct RunAttempt {
  int exit_code = -1;  // -1 when a signal ended it
  int signal = 0;
  double wall_s = 0;
  std::string device;  // the --device it was given ("" = the run's own setting)
};

struct RunStatus {
  RunState state = RunState::Pending;
  bool started = false;     // config.json exists (continue with --resume)
  int64_t step = 0;         // the committed checkpoint's step (0 when none)
  int64_t total_steps = 0;  // from config.json (0 when not started)
  std::string device;       // the device setting the run was started with
  bool attempted = false;   // sweep_attempt.json exists
  RunAttempt last;
  // "done", "failed: exit 2, see <dir>/train.log", "incomplete: step 40 of 100", "pending".
  std::string describe(const std::string& dir) const;
};

// The state of the run in `dir` for a cell of `epochs` epochs.
RunStatus inspect_run(const std::string& dir, int64_t epochs);
// For a folder that holds a run: throws naming the folder and the first setting of its config.json
// that differs from `want` (--out, --resume, --device, --flush-seconds and --cuda-graph aside, which
// do not change results; --epochs only when the run has more than `want`).
void check_run_matches(const std::string& dir, const TrainConfig& want);
// The "step" in a checkpoint file's metadata, read from the safetensors header alone (the data
// are not read or verified: train verifies them when it resumes); -1 when absent or unreadable.
int64_t checkpoint_step(const std::string& path);
// The metadata of a safetensors file's header (checkpoint files: step, select_work, ...), read
// without its data; an empty object when the file is missing or not readable.
nlohmann::json checkpoint_metadata(const std::string& path);
// The complete rows of dir/metrics.jsonl, in order (a last line cut short is left out).
std::vector<nlohmann::json> read_metrics(const std::string& dir);
void write_attempt(const std::string& dir, const RunAttempt& a);

struct SweepJob {
  size_t number = 0;  // 1-based, in this process's share of the grid
  size_t of = 0;      // the share's size
  const SweepCell* cell = nullptr;
  std::string dir;               // the run folder
  bool resume = false;           // train --resume dir --epochs E; else a fresh run with --out dir
  std::string pinned;            // a resumed run stays on the device it started on: its slot, if one is
  std::vector<std::string> env;  // extra environment "NAME=value" for the child
};

struct ScheduleHooks {
  std::function<void(const SweepJob&, const std::string& device)> started;
  std::function<void(const SweepJob&, const RunAttempt&)> finished;  // after sweep_attempt.json is written
};

// Runs `jobs` in order with the train program `program`: one at a time when `slots` is empty,
// else one per slot at once, each fresh run given --device <slot> (a resumed job whose `pinned`
// device is a slot waits for that slot). Returns false when a SIGINT or SIGTERM stopped it (no
// job started after the signal; the running ones were asked to stop and waited for). Call from
// the main thread before other threads exist: it blocks SIGINT, SIGTERM and SIGCHLD in the
// calling thread while it runs, and restores the mask.
bool run_jobs(const std::string& program, const std::vector<SweepJob>& jobs, const std::vector<std::string>& slots,
              const ScheduleHooks& hooks);

}  // namespace dybat
