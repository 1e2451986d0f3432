"""Runs the tiers of tools/gpu-check (the plan is gpu_check_plan.py; see tools/gpu-check).

    gpu_check.py plan                      the plan as JSON
    gpu_check.py run TIER...               on the GPU machine, with the GPU build in .gpu
    gpu_check.py dry-run [TIER...]         on any machine: every tier's commands with the CUDA steps
                                           replaced by their CPU twins, with the build in $DYBAT_BUILD
                                           (default build/); all tiers when none is named

Each tier writes, as it goes, into $OUT/<tier> (else gpu-logs/<tier>): summary.txt (the table so
far), results.jsonl (a line per finished step, with what it measured) and log.txt (every command and
its output), so a tier stopped at any point keeps what finished. Scratch files (run folders,
benchmark JSON) go to $TMPDIR/dybat-gpu-check/<tier>. The exit code is 1 when a step failed, 2 for
bad usage or a missing build.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_check_gtest as gt  # noqa: E402
import gpu_check_plan as gp  # noqa: E402
import gpu_check_tables as tables  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Context:
    """Where things are for one run: the GPU machine's copy (.gpu) or, in a dry run, this build."""

    def __init__(self, dry):
        self.dry = dry
        if dry:
            build = os.environ.get("DYBAT_BUILD", os.path.join(ROOT, "build"))
            self.bin = os.environ.get("DYBAT_BINARY_DIR", build)
            self.tests = os.path.join(self.bin, "tests", "dybat_tests")
            self.shared = os.environ.get("DYBAT_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
        else:
            self.bin = os.path.join(ROOT, ".gpu", "bin")
            self.tests = os.path.join(self.bin, "dybat_tests")
            self.shared = os.path.join(ROOT, ".gpu", "shared")
        self.tests = os.environ.get("DYBAT_GPU_CHECK_TESTS", self.tests)
        self.sanitizer = os.environ.get("DYBAT_COMPUTE_SANITIZER", "")
        self.sanitizer_ok, self.sanitizer_why = True, ""
        self.env = dict(os.environ)
        self.env.setdefault("DYBAT_TEST_DATA", os.path.join(ROOT, "tests", "fixtures"))
        self.env.setdefault("DYBAT_SOURCE_DIR", ROOT)
        self.env.setdefault("DYBAT_SHARED_DIR", self.shared)
        self.env.setdefault("DYBAT_BINARY_DIR", self.bin)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        if dry:
            self.env.setdefault("OMP_NUM_THREADS", "2")
        self.scratch = os.path.join(tempfile.gettempdir(), "dybat-gpu-check")

    def fill(self, arg, work):
        cifar = os.path.join(work, "cifar10")
        for d in sorted(glob.glob(os.path.join(cifar, "*"))):
            if os.path.isdir(os.path.join(d, "train")):
                cifar = d
        return arg.format(tests=self.tests, bin=self.bin, work=work, shared=self.shared, cifar10=cifar)


class Recorder:
    """The tier's three files, written after every step."""

    def __init__(self, tier, out_root):
        self.tier, self.dir = tier, os.path.join(out_root, tier)
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "log.txt")
        self.rows, self.failed = [], False
        for name in gp.WRITES:
            open(os.path.join(self.dir, name), "w").close()

    def record(self, name, status, seconds, limit_s, detail, data=None):
        row = {"tier": self.tier, "step": name, "status": status, "seconds": round(seconds, 1), "limit_s": limit_s,
               "detail": detail}
        if data is not None:
            row["data"] = data
        self.rows.append(row)
        self.failed |= status == "FAIL"
        with open(os.path.join(self.dir, "results.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        with open(os.path.join(self.dir, "summary.txt"), "w") as f:
            f.write(self.table())
        print("%-34s %-4s %6.1f s  %s" % (name, status, seconds, detail[:150]), flush=True)

    def table(self):
        lines = ["==== gpu-check %s summary ====" % self.tier]
        for r in self.rows:
            lines.append("%-34s %-4s %6.1f/%4d s  %s" % (r["step"], r["status"], r["seconds"], r["limit_s"],
                                                       r["detail"]))
        return "\n".join(lines) + "\n"


# ---- the steps -------------------------------------------------------------------------------

def soname_major(name, default):
    for part in name.split(".so.")[1:]:
        return part.split(".")[0]
    return default


def needed_libraries(ctx):
    """The CUDA libraries the programs load: their NEEDED entries recorded by prepare, cuBLAS's own
    cublasLt, and NVRTC with its builtins, which cuDNN's runtime-compiled engines open at run time."""
    names = []
    listed = os.path.join(ROOT, ".gpu", "needed.txt")
    if not ctx.dry and os.path.exists(listed):
        names = [l.strip() for l in open(listed) if l.strip()]
    if not names:
        names = ["libcudnn.so.9", "libcublas.so.13", "libcublasLt.so.13", "libcudart.so.13"]
    major = next((soname_major(n, "13") for n in names if n.startswith("libcudart.so.")), "13")
    names += ["libcublasLt.so." + soname_major(n, major) for n in names if n.startswith("libcublas.so.")]
    return sorted(set(names)) + ["libnvrtc.so." + major, "libnvrtc-builtins.so." + major + ".*"]


LIKELY_FOLDERS = ["/usr/local/cuda*/lib64", "/usr/local/cuda*/lib", "/usr/local/cuda*/targets/*/lib",
                  "/usr/local/cuda*/bin", "/usr/local/cuda*/compute-sanitizer", "/usr/lib/x86_64-linux-gnu",
                  "/usr/local/nvidia/lib64", "/opt/nvidia/*/compute-sanitizer"]


def likely_folders():
    """Where CUDA's libraries usually are: the toolkit, the system's and the driver's folders, and
    the nvidia-* wheels (PyTorch's cuDNN, cuBLAS, runtime, NVRTC) of the Python on the PATH."""
    out = []
    sites = subprocess_text(["python3", "-c", "import site; print(chr(10).join(site.getsitepackages()))"])
    seen = set()
    for pattern in LIKELY_FOLDERS + [s + "/nvidia/*/lib" for s in sites.splitlines() if s.startswith("/")]:
        for d in sorted(glob.glob(pattern)):
            if os.path.isdir(d) and os.path.realpath(d) not in seen:  # cuda -> cuda-13.0 once
                seen.add(os.path.realpath(d))
                out.append(d)
    return out


def mounted_roots():
    """Every mounted real file system, each to be searched without crossing into the others."""
    pseudo = {"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs",
              "securityfs", "pstore", "bpf", "autofs", "hugetlbfs", "fusectl", "configfs", "binfmt_misc", "nsfs",
              "efivarfs", "rpc_pipefs"}
    roots = []
    try:
        for line in open("/proc/mounts"):
            parts = line.split()
            if len(parts) >= 3 and parts[2] not in pseudo and parts[1] not in roots:
                roots.append(parts[1].replace("\\040", " "))
    except OSError:
        pass
    # the small mounts first (the driver's folder is often one), the root last
    return sorted(roots, key=lambda r: r == "/") or ["/"]


def matches(name, pattern):
    return name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))


def find_libraries(ctx, names, limit_s, log):
    """name -> the paths found: first in the likely folders, then, for what is still missing (not
    in a dry run), over every mounted file system."""
    found = {n: [] for n in names}
    for d in likely_folders():
        for entry in sorted(os.listdir(d)):
            for n in names:
                if matches(entry, n):
                    found[n].append(os.path.join(d, entry))
    missing = [n for n in names if not found[n]]
    if missing and not ctx.dry:
        deadline = time.monotonic() + limit_s - 5
        expr = []
        for n in missing:
            expr += (["-o"] if expr else []) + ["-name", n]
        skip = []  # this checkout and the scratch folder hold none of them
        for d in (ROOT, ctx.scratch):
            skip += ["-path", d, "-prune", "-o"]
        for root in mounted_roots():
            text, _ = gt.run_process(["find", root, "-xdev"] + skip + ["("] + expr + [")", "-print"], None,
                                     max(1, deadline - time.monotonic()), log)
            for path in text.splitlines():
                for n in missing:
                    if matches(os.path.basename(path), n) and path not in found[n]:
                        found[n].append(path)
    return found


def libraries_step(ctx, rec, st, limit_s):
    # compute-sanitizer: only where the tier uses it, and not when it is on the PATH.
    on_path = shutil.which("compute-sanitizer")
    names = needed_libraries(ctx) + (["compute-sanitizer"] if st.get("sanitizer") and not on_path else [])
    cache = os.path.join(ctx.scratch, "libraries.json")
    found = None
    if not ctx.dry and os.path.exists(cache):  # found by an earlier tier on this machine
        try:
            found = json.load(open(cache))
            if set(found) != set(names) or not all(os.path.exists(p) for ps in found.values() for p in ps):
                found = None
        except (OSError, ValueError):
            found = None
    if found is None:
        found = find_libraries(ctx, names, limit_s, rec.log)
        if not ctx.dry:
            os.makedirs(ctx.scratch, exist_ok=True)
            json.dump(found, open(cache, "w"))
    for n in names:
        gt.append(rec.log, "%-28s %s\n" % (n, "  ".join(found[n]) or "NOT FOUND"))
    # Folders in order of how many of the libraries they hold: one with all of cuDNN comes first.
    libs = [n for n in names if n != "compute-sanitizer"]
    dirs = {}
    for n in libs:
        for p in found[n]:
            dirs[os.path.dirname(p)] = dirs.get(os.path.dirname(p), 0) + 1
    ordered = sorted(dirs, key=lambda d: -dirs[d])
    ctx.env["LD_LIBRARY_PATH"] = ":".join(d for d in [ctx.bin] + ordered + [ctx.env.get("LD_LIBRARY_PATH", "")] if d)
    if not ctx.sanitizer and not ctx.dry:
        ctx.sanitizer = on_path or (found.get("compute-sanitizer") or [""])[0]
    missing = [n for n in libs if not found[n]]
    info = subprocess_text(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    gt.append(rec.log, "GPU: %s\nLD_LIBRARY_PATH=%s\ncompute-sanitizer: %s\n" % (info, ctx.env["LD_LIBRARY_PATH"],
                                                                           ctx.sanitizer or "not found"))
    detail = "%d folders; %s" % (len(ordered), "missing " + ", ".join(missing) if missing else "all found")
    status = "FAIL" if missing and not ctx.dry else "PASS"
    return status, detail + ("" if ctx.dry else "; GPU " + info), {"found": found, "gpu": info}


def subprocess_text(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip() or "none"
    except (OSError, subprocess.SubprocessError):  # no nvidia-smi (a CPU machine): nothing to report
        return "none"


def suite_verdict(ctx, r, allow_empty):
    """PASS or FAIL, and what to add to the detail."""
    ran = len(r.outcomes)
    if r.error or r.faults() or r.sanitizer_errors:
        return "FAIL", ""
    if ran == 0 and not allow_empty:
        return "FAIL", "; no test matched: the plan names tests that are gone"
    if not ctx.dry and ran and r.count("SKIPPED") == ran:
        return "FAIL", "; every test skipped: the GPU was not seen"
    return "PASS", ""


def sanitizer_prefix(ctx, tool):
    return [ctx.sanitizer, "--tool", tool, "--error-exitcode", "3"] if ctx.sanitizer else []


def run_step(ctx, rec, st, limit_s, work):
    argv = [ctx.fill(a, work) for a in (st["cpu"] if ctx.dry and st["cpu"] is not None else st["gpu"])]
    env = dict(ctx.env, **st["env"])
    kind = st["kind"]
    if st.get("needs") and not os.path.exists(ctx.fill(st["needs"], work)):
        missing = ctx.fill(st["needs"], work)
        return ("SKIP" if ctx.dry else "FAIL"), "missing " + missing, None
    if kind == "libraries":
        return libraries_step(ctx, rec, st, limit_s)
    if kind in ("bench-table", "train-table"):
        text, data = (tables.bench if kind == "bench-table" else tables.train)(work)
        gt.append(rec.log, text + "\n")
        return "PASS", text.splitlines()[0] if text else "nothing to show", data
    if kind in ("suite", "probe", "sanitizer"):
        if kind == "sanitizer" and not ctx.sanitizer_ok:
            return "SKIP", "compute-sanitizer cannot run here: " + ctx.sanitizer_why, None
        prefix = sanitizer_prefix(ctx, st["tool"]) if kind != "suite" else []
        if kind != "suite" and not prefix and not ctx.dry:
            ctx.sanitizer_ok, ctx.sanitizer_why = False, "compute-sanitizer not found"
            return "SKIP", ctx.sanitizer_why, None
        r = gt.run_suite(prefix, argv[0], argv[1].split("=", 1)[1], env, limit_s, rec.log, isolate=kind != "probe")
        if kind == "probe":
            return probe_verdict(ctx, r)
        status, why = suite_verdict(ctx, r, allow_empty=st["name"] == "CudaOther")
        return status, gt.describe(r) + why, {"outcomes": r.outcomes}
    if kind == "torch":
        text, rc = gt.run_process(["python3", "-c", "import torch, timm"], env, 60, rec.log)
        if rc != 0:
            return "SKIP", "PyTorch (with timm) is not importable here", None
    text, rc = gt.run_process(argv, env, limit_s, rec.log)
    status = "PASS" if rc == 0 else "FAIL"
    detail = ("exit %s" % ("timeout" if rc is None else rc)) if rc != 0 else gt.last_line(text)
    data = tables.step_data(argv, work)
    if rc == 0 and isinstance(data, dict) and data.get("img_per_s"):  # a benchmark: its speed
        detail = "%.0f img/s, %.2f ms/step" % (data["img_per_s"], data.get("ms_per_step") or 0)
    if kind == "torch" and data is None:  # stopped before its JSON: keep the rows it printed
        data = tables.torch_rows(text) or None
        if data and "--json" in argv:
            json.dump(data, open(argv[argv.index("--json") + 1], "w"))
    return status, detail, data


def probe_verdict(ctx, r):
    """The sanitizer works when the probe ran (not skipped: a sanitizer that hides the device makes
    it skip) and passed; otherwise every sanitizer step is skipped with the reason it gave."""
    ran_ok = r.count("OK") == 1 or (ctx.dry and r.count("SKIPPED") == 1)
    if not r.error and not r.faults() and not r.sanitizer_errors and ran_ok:
        return "PASS", "compute-sanitizer runs here" if ctx.sanitizer else "run without a sanitizer (dry run)", None
    ctx.sanitizer_ok = False
    ctx.sanitizer_why = refusal_reason(r.text) or gt.describe(r)
    return "SKIP", "the sanitizer cannot run here: " + ctx.sanitizer_why, None


def refusal_reason(text):
    """The sanitizer's own words: the first line that says what is not supported or what failed."""
    for key in ("not supported", "Device not supported", "error 999", "Error", "error"):
        for line in text.splitlines():
            if key in line:
                return line.strip("= ").strip()[:160]
    return ""


def run_tier(ctx, name, out_root):
    tier = next((t for t in gp.tiers() if t["name"] == name), None)
    if tier is None:
        print("gpu-check: unknown tier '%s' (expected %s)" % (name, ", ".join(t["name"] for t in gp.tiers())),
              file=sys.stderr)
        sys.exit(2)
    rec = Recorder(name, out_root)
    work = os.path.join(ctx.scratch, name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "cifar10"), exist_ok=True)
    print("==== gpu-check %s%s: %d steps, at most %d s" % (name, " (dry run)" if ctx.dry else "",
                                                         len(tier["steps"]), tier["limit_s"]), flush=True)
    deadline = time.monotonic() + tier["limit_s"]
    for st in tier["steps"]:
        limit = min(st["limit_s"], deadline - time.monotonic())
        gt.append(rec.log, "\n==== %s (limit %d s)\n" % (st["name"], limit))
        if limit < 1:
            rec.record(st["name"], "SKIP", 0, st["limit_s"], "no time left in the tier")
            continue
        t0 = time.monotonic()
        try:
            status, detail, data = run_step(ctx, rec, st, limit, work)
        except Exception as e:  # one broken step must not hide the rest
            status, detail, data = "FAIL", "gpu-check: %s: %s" % (type(e).__name__, e), None
        rec.record(st["name"], status, time.monotonic() - t0, st["limit_s"], detail, data)
    print(rec.table(), end="", flush=True)
    return rec.failed


def main(argv):
    if not argv or argv[0] not in ("plan", "run", "dry-run"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "plan":
        print(json.dumps(gp.plan(), indent=1))
        return 0
    ctx = Context(dry=argv[0] == "dry-run")
    names = argv[1:] or ([t["name"] for t in gp.tiers()] if ctx.dry else [])
    if not names:
        print("gpu-check run: name a tier", file=sys.stderr)
        return 2
    if not os.path.exists(ctx.tests):
        hint = "build it first (./tools/test)" if ctx.dry else "run 'tools/gpu-check prepare' and carry .gpu"
        print("gpu-check: no test binary at %s: %s" % (ctx.tests, hint), file=sys.stderr)
        return 2
    out_root = os.environ.get("OUT") or os.path.join(ROOT, "gpu-logs")
    failed = False
    for name in names:
        failed |= run_tier(ctx, name, out_root)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
