// Running a sweep's jobs as child processes of the train program, one per device slot at once,
// with signals passed on to the children (see sweep_runs.h).
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/error.h"
#include "train/files.h"
#include "train/sweep_runs.h"

extern char** environ;

namespace dybat {

namespace {

using Clock = std::chrono::steady_clock;

struct Child {
  pid_t pid = 0;
  size_t job = 0, slot = 0;
  Clock::time_point start;
  std::string device;
};

// The environment of this process with `extra` ("NAME=value") added or replacing.
std::vector<std::string> child_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env = extra;
  for (char** e = environ; *e; ++e) {
    std::string v = *e, name = v.substr(0, v.find('='));
    bool replaced = false;
    for (const std::string& x : extra) replaced = replaced || x.substr(0, x.find('=')) == name;
    if (!replaced) env.push_back(v);
  }
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (std::string& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

std::string timestamp() {
  char buf[32];
  std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return buf;
}

// Starts train for `job`: its own process group, output appended to the run's train.log, the
// signal mask cleared, SIGTERM if this process dies. Only async-signal-safe calls after fork().
pid_t start_child(const std::string& program, const SweepJob& job, const std::string& slot) {
  std::vector<std::string> argv_s = {program};
  if (job.resume) {
    argv_s.insert(argv_s.end(), {"--resume", job.dir, "--epochs", std::to_string(job.cell->config.epochs)});
  } else {
    argv_s.insert(argv_s.end(), job.cell->args.begin(), job.cell->args.end());
    argv_s.insert(argv_s.end(), {"--out", job.dir});
    if (!slot.empty()) argv_s.insert(argv_s.end(), {"--device", slot});
  }
  make_dirs(job.dir);
  const std::string log = (std::filesystem::path(job.dir) / "train.log").string();
  std::string header = "=== " + timestamp() + " tools/sweep runs:";
  for (const std::string& a : argv_s) header += " " + a;
  append_file(log, header + "\n");

  std::vector<std::string> env_s = child_env(job.env);
  std::vector<char*> argv = pointers(argv_s), envp = pointers(env_s);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  DYBAT_CHECK(pid >= 0, "cannot start ", program, ": ", std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(129);  // the sweep died before the line above
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::execve(argv[0], argv.data(), envp.data());
    static const char msg[] = "tools/sweep: cannot run the train program\n";
    [[maybe_unused]] ssize_t w = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so a signal sent right away reaches the group
  return pid;
}

}  // namespace

bool run_jobs(const std::string& program, const std::vector<SweepJob>& jobs, const std::vector<std::string>& slots,
              const ScheduleHooks& hooks) {
  sigset_t mask, old;
  sigemptyset(&mask);
  for (int s : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&mask, s);
  ::pthread_sigmask(SIG_BLOCK, &mask, &old);

  const std::vector<std::string> slot_names = slots.empty() ? std::vector<std::string>{""} : slots;
  std::vector<bool> busy(slot_names.size(), false), taken(jobs.size(), false);
  std::vector<Child> running;
  int signals = 0;
  auto is_slot = [&](const std::string& d) {
    for (const std::string& s : slot_names)
      if (!s.empty() && s == d) return true;
    return false;
  };
  // The next job that may run on `slot`: not pinned to another slot.
  auto next_for = [&](size_t slot) -> long {
    for (size_t j = 0; j < jobs.size(); ++j)
      if (!taken[j] && (!is_slot(jobs[j].pinned) || jobs[j].pinned == slot_names[slot])) return static_cast<long>(j);
    return -1;
  };
  try {
    while (true) {
      for (size_t s = 0; s < slot_names.size() && signals == 0; ++s) {
        if (busy[s]) continue;
        long j = next_for(s);
        if (j < 0) continue;
        const SweepJob& job = jobs[static_cast<size_t>(j)];
        Child c;
        c.job = static_cast<size_t>(j);
        c.slot = s;
        c.device = job.resume ? job.pinned : slot_names[s];
        if (hooks.started) hooks.started(job, c.device);
        c.start = Clock::now();
        c.pid = start_child(program, job, job.resume ? "" : slot_names[s]);
        taken[c.job] = true;
        busy[s] = true;
        running.push_back(c);
      }
      if (running.empty()) break;
      // Wait for a child to end or a signal; the timeout only guards against a SIGCHLD that
      // another thread took.
      siginfo_t info;
      timespec timeout{1, 0};
      int sig = ::sigtimedwait(&mask, &info, &timeout);
      if (sig == SIGINT || sig == SIGTERM) {
        ++signals;
        for (const Child& c : running) ::kill(c.pid, SIGTERM);
      }
      for (size_t i = 0; i < running.size();) {
        int status = 0;
        pid_t r = ::waitpid(running[i].pid, &status, WNOHANG);
        if (r != running[i].pid) {
          ++i;
          continue;
        }
        const Child c = running[i];
        running.erase(running.begin() + static_cast<long>(i));
        busy[c.slot] = false;
        RunAttempt a;
        a.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        a.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        a.wall_s = std::chrono::duration<double>(Clock::now() - c.start).count();
        a.device = c.device;
        write_attempt(jobs[c.job].dir, a);
        if (hooks.finished) hooks.finished(jobs[c.job], a);
      }
    }
  } catch (...) {
    // A failure of the sweep itself (e.g. an unwritable folder): stop the children, then report it.
    for (const Child& c : running) ::kill(c.pid, SIGTERM);
    for (const Child& c : running) ::waitpid(c.pid, nullptr, 0);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return signals == 0;
}

}  // namespace dybat
