"""Runs a GoogleTest filter for tools/gpu-check so that one fault does not hide the rest.

A CUDA fault inside a kernel poisons the context: every later CUDA call of the process fails, so
every later test of the process fails too, and a crash ends the process. run_suite therefore
  1. runs the filter in one process and reads each test's outcome from GoogleTest's output;
  2. after a crash (the process ended without GoogleTest's closing summary), names the test that
     was running and starts a new process for the tests that did not run yet;
  3. when more than one test failed, or one crashed, runs each failed test again alone: one that
     passes alone only failed after an earlier fault in its process.
Every process's output goes to the tier's log as it comes.
"""
import os
import re
import signal
import subprocess
import time

RESULT = re.compile(r"^\[\s*(RUN|OK|FAILED|SKIPPED)\s*\] ([^\s,]+)(.*)$")
CLOSING = re.compile(r"^\[==========\] \d+ tests? from \d+ test suites? ran\.")
SANITIZER_ERRORS = re.compile(r"=+ ERROR SUMMARY: (\d+) errors?")


def append(log, text):
    with open(log, "a", errors="replace") as f:
        f.write(text)


def run_process(argv, env, limit_s, log):
    """Runs argv, its output appended to the file `log` as it comes, and returns (its output,
    its exit code or None when it ran past limit_s and was stopped, with its children)."""
    append(log, "$ " + " ".join(argv) + "\n")
    start = os.path.getsize(log)
    with open(log, "ab") as out:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as e:
            append(log, "cannot start: %s\n" % e)
            return "cannot start %s: %s" % (argv[0], e), 127
        try:
            rc = proc.wait(timeout=max(1.0, limit_s))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            rc = None
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    if rc is None:
        append(log, "-- stopped at its limit of %.0f s\n" % limit_s)
    return text, rc


def split_filter(pattern):
    """'A:B-C:D' -> (['A', 'B'], ['C', 'D'])"""
    pos, _, neg = pattern.partition("-")
    return [p for p in pos.split(":") if p], [n for n in neg.split(":") if n]


def join_filter(pos, neg):
    return ":".join(pos) + ("-" + ":".join(neg) if neg else "")


def parse(text):
    """Each test's outcome in the order GoogleTest reported them, the test running when the output
    ends (None if none), and whether the closing summary was printed."""
    outcomes, running, closed = {}, None, False
    for line in text.splitlines():
        if CLOSING.match(line):
            closed = True
            continue
        m = RESULT.match(line)
        if not m:
            continue
        kind, name, rest = m.groups()
        if kind == "RUN":
            running = name
        elif rest.rstrip().endswith("ms)"):  # a test's result, not the summary's list
            outcomes[name] = kind
            running = None
    return outcomes, running, closed


class SuiteResult:
    def __init__(self):
        self.outcomes = {}  # name -> OK, FAILED, SKIPPED, CRASHED, TIMEOUT
        self.alone = {}  # failed name -> outcome when run alone
        self.sanitizer_errors = 0
        self.error = ""  # a failure outside any test (the binary did not start, ...)
        self.exit_codes = []
        self.text = ""  # every process's output

    def count(self, kind):
        return sum(1 for v in self.outcomes.values() if v == kind)

    def faults(self):
        """The tests that fail on their own: failed and not cleared by a run alone, crashed, timed out."""
        out = []
        for name, kind in self.outcomes.items():
            if kind in ("CRASHED", "TIMEOUT"):
                out.append(name)
            elif kind == "FAILED" and self.alone.get(name) != "OK":
                out.append(name)
        return out

    def poisoned(self):
        return [n for n, k in self.outcomes.items() if k == "FAILED" and self.alone.get(n) == "OK"]


def run_suite(prefix, tests, pattern, env, limit_s, log, isolate=True):
    """Runs the tests of `pattern` (a --gtest_filter) with `prefix` (e.g. a sanitizer) before the test
    binary, within limit_s in all. Returns a SuiteResult."""
    deadline = time.monotonic() + limit_s
    r = SuiteResult()
    pos, neg = split_filter(pattern)
    while True:
        left = deadline - time.monotonic()
        if left < 1:
            break
        text, rc = run_process(prefix + [tests, "--gtest_filter=" + join_filter(pos, neg), "--gtest_color=no"], env,
                               left, log)
        r.exit_codes.append(rc)
        r.text += text
        m = SANITIZER_ERRORS.search(text)
        if m:
            r.sanitizer_errors += int(m.group(1))
        outcomes, running, closed = parse(text)
        r.outcomes.update(outcomes)
        if rc is None:
            if running:
                r.outcomes[running] = "TIMEOUT"
            break
        if closed:
            break
        if not running:  # ended before or between tests: nothing to resume from
            r.error = "exit %s without GoogleTest's summary: %s" % (rc, last_line(text))
            break
        r.outcomes[running] = "CRASHED"
        neg = neg + list(outcomes) + [running]  # go on with the tests that did not run yet
    failed = [n for n, k in r.outcomes.items() if k == "FAILED"]
    if isolate and failed and (len(failed) > 1 or r.count("CRASHED")):
        for name in failed:
            left = deadline - time.monotonic()
            if left < 1:
                break
            text, rc = run_process(prefix + [tests, "--gtest_filter=" + name, "--gtest_color=no"], env, left, log)
            outcomes, running, closed = parse(text)
            r.alone[name] = outcomes.get(name, "CRASHED" if running else "UNKNOWN")
    return r


def last_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1][:120] if lines else "(no output)"


def describe(r, names_shown=3):
    """One line: counts, then the tests at fault and those that only failed after them."""
    def names(xs):
        return ", ".join(xs[:names_shown]) + (" and %d more" % (len(xs) - names_shown) if len(xs) > names_shown else "")
    parts = ["%d passed" % r.count("OK")]
    if r.count("SKIPPED"):
        parts.append("%d skipped" % r.count("SKIPPED"))
    faults, poisoned = r.faults(), r.poisoned()
    if faults:
        parts.append("at fault: " + names(["%s (%s)" % (n, r.outcomes[n].lower()) for n in faults]))
    if poisoned:
        parts.append("%d failed only after a fault in their process (pass alone): %s" % (len(poisoned),
                                                                                        names(poisoned)))
    if r.sanitizer_errors:
        parts.append("%d sanitizer errors" % r.sanitizer_errors)
    if r.error:
        parts.append(r.error)
    return "; ".join(parts)
