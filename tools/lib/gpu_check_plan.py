"""The plan of tools/gpu-check: its tiers in order of value, their steps with time limits, the CPU
twin of every command (what --dry-run runs) and the files each tier writes. gpu_check.py runs it;
`tools/gpu-check plan` prints it as JSON and tests/tools/gpu_check_test.cpp checks it against the
limits here.

Time. One command on a GPU machine may run COMMAND_LIMIT_S; the checks on one started machine have
DEVICE_BUDGET_S of device time in all, the machine's start included. A tier is one command: its steps' limits add up
to at most TIER_LIMIT_S (10% margin), the first tier's to at most FIRST_TIER_LIMIT_S (30%), and
the tiers meant to run on one machine after one start (MACHINE_GROUPS) fit the budget with
that start. A tier also stops itself when its
own total is spent, so its command never outlives the plan.

Commands are argument lists with placeholders: {tests} the test binary, {bin} the programs'
folder, {work} the tier's scratch folder, {shared} the copy of the shared bench scripts and data.
{cifar10} the unpacked CIFAR-10 folder. A step's twin is None when the command itself is its own
twin (a CUDA test skips on a CPU).
"""

COMMAND_LIMIT_S = 600
DEVICE_BUDGET_S = 900
MACHINE_START_S = 150
FIRST_TIER_LIMIT_S = 420
TIER_LIMIT_S = 540
MACHINE_GROUPS = [["quick", "sanitize"], ["bench"], ["train"]]  # tiers run on one machine, in turn
WRITES = ["summary.txt", "results.jsonl", "log.txt"]  # per tier, in $OUT/<tier> (or gpu-logs/<tier>)

NETS = ["resnet18", "resnet50", "efficientnet_b4", "efficientnetv2_s", "mobilenetv3_small_100"]

# The CUDA tests: those of the suites named Cuda* (parameterised ones carry a prefix: Nets/CudaGolden).
CUDA_TESTS = "Cuda*.*:*/Cuda*.*"
# Every CUDA test suite, each in its own process with its limit (a fault that poisons the CUDA
# context then stops only its own suite, and its failing tests are run again alone).
CUDA_SUITES = [
    ("CudaParity", "CudaParity.*", 60),
    ("CudaConv2dAlgorithms", "CudaConv2dAlgorithms.*", 25),
    ("CudaAllocator", "CudaAllocator.*", 15),
    ("CudaSanitizerProbe", "CudaSanitizerProbe.*", 10),
    ("CudaGraph", "CudaGraph.*", 15),
    ("CudaSchedule", "CudaSchedule.*", 15),
    ("CudaMetrics", "CudaMetrics.*", 15),
    ("CudaTrainer", "CudaTrainer.*", 30),
    ("CudaPrecision", "CudaPrecision.*", 20),
    ("CudaForwardTool", "CudaForwardTool.*", 30),
    ("CudaGolden", "*CudaGolden.*", 60),
    ("CudaNccl", "CudaNccl.*", 20),
]
# The tests of the project's own kernels (not cuDNN's or cuBLAS's), at their small shapes: batch
# norm, the bias gradient of conv2d, sum_rows, the schedule's kernels, pooling, the loss,
# activations, dropout, the batch gather, SGD, casts, the metrics, the selection methods' kernels,
# and the data-parallel kernels (synchronised batch norm, the global batch loss).
OWN_KERNEL_TESTS = ":".join([
    "CudaParity.BatchNorm*", "CudaParity.Conv2dAutograd*", "CudaParity.SumRows*", "CudaSchedule.*",
    "CudaParity.*Pool*", "CudaParity.CrossEntropy*", "CudaParity.Activation*", "CudaParity.Dropout*",
    "CudaParity.DataGather*", "CudaParity.Sgd*", "CudaParity.CastBf16*", "CudaMetrics.*",
    "CudaParity.Select*", "CudaParity.SyncBatchNorm*", "CudaParity.GlobalBatchLoss*"])


def step(name, limit_s, kind, gpu=(), cpu=None, env=None, what="", needs=None):
    """needs: a path the step cannot run without (a FAIL where it is missing on the GPU machine,
    a SKIP in a dry run, where the shared data may be absent)."""
    return {"name": name, "limit_s": limit_s, "kind": kind, "gpu": list(gpu),
            "cpu": None if cpu is None else list(cpu), "env": dict(env or {}), "what": what, "needs": needs}


def libraries(sanitizer=False):
    s = step("libraries", 40, "libraries",
             what="finds the folders of cuDNN, cuBLAS, the CUDA runtime and NVRTC (with its builtins) the programs "
                  "need (in the usual folders, else over every mounted file system)" +
                  (", and compute-sanitizer" if sanitizer else "") + "; prints each place found")
    s["sanitizer"] = sanitizer
    return s


def suite_step(name, pattern, limit_s, env=None):
    return step(name, limit_s, "suite", ["{tests}", "--gtest_filter=" + pattern], env=env,
                what="the tests " + pattern + " in one process; failing ones again alone")


def synthetic_train(device, crop, batch, train_limit, test_limit):
    return ["{bin}/train", "--net", "resnet18", "--delta", "0.5", "--dataset", "synthetic", "--crop", str(crop),
            "--batch-size", str(batch), "--epochs", "2", "--train-limit", str(train_limit), "--test-limit",
            str(test_limit), "--device", device, "--out", "{work}/train-synthetic"]


def quick():
    steps = [libraries()]
    steps += [suite_step(name, pattern, limit) for name, pattern, limit in CUDA_SUITES]
    named = ":".join(p for _, p, _ in CUDA_SUITES)
    steps.append(step("CudaOther", 10, "suite", ["{tests}", "--gtest_filter=" + CUDA_TESTS + "-" + named],
                      what="any CUDA test of a suite not named above (none, when the plan is complete)"))
    steps.append(step("train-synthetic", 45, "command", synthetic_train("cuda", 32, 64, 512, 128),
                      synthetic_train("cpu", 32, 8, 32, 16),
                      what="the main command, train, on the synthetic set for a few steps"))
    return {"name": "quick", "what": "every CUDA test, each suite in its own process, and the main command",
            "steps": steps}


def sanitizer_step(name, tool, limit_s, env=None):
    s = step(name, limit_s, "sanitizer", ["{tests}", "--gtest_filter=" + OWN_KERNEL_TESTS], env=env,
             what="compute-sanitizer --tool " + tool + " over the tests of the project's own kernels")
    s["tool"] = tool
    return s


def sanitize():
    steps = [libraries(sanitizer=True),
             dict(step("sanitizer-probe", 30, "probe", ["{tests}", "--gtest_filter=CudaSanitizerProbe.*"],
                       what="compute-sanitizer memcheck on one allocation and one kernel: where it cannot run, "
                            "the sanitizer steps are skipped with its reason"), tool="memcheck"),
             sanitizer_step("memcheck", "memcheck", 110, {"DYBAT_CUDA_ALLOC_EXACT": "1"}),
             sanitizer_step("racecheck", "racecheck", 50),
             sanitizer_step("synccheck", "synccheck", 50)]
    return {"name": "sanitize", "what": "compute-sanitizer over the project's own kernels (memcheck with "
                                        "exact-size, uncached allocations)", "steps": steps}


def bench_cmd(device, net, crop, batch, precision, steps, graph, json_path):
    warmup = ["--warmup", "1"] if device == "cpu" else []  # the twin: one untimed step, one timed
    return ["{bin}/bench", "--device", device, "--net", net, "--crop", str(crop), "--batch-size", str(batch),
            "--precision", precision, "--cuda-graph", graph, "--steps", str(steps)] + warmup + ["--json", json_path]


def bench():
    steps = [libraries()]
    for net in NETS:
        for prec in ("fp32", "bf16"):  # the step as train runs it: one CUDA graph, replayed
            out = "{work}/dybat-%s-128-%s.json" % (net, prec)
            steps.append(step("bench-%s-128-%s" % (net, prec), 30, "command",
                              bench_cmd("cuda", net, 128, 512, prec, 10, "on", out),
                              bench_cmd("cpu", net, 32, 2, "fp32", 1, "on", out),
                              what="dybat's training step, median of 10, batch 512"))
    out = "{work}/dybat-resnet18-128-fp32-eager.json"
    steps.append(step("bench-resnet18-128-fp32-eager", 30, "command",
                      bench_cmd("cuda", "resnet18", 128, 512, "fp32", 10, "off", out),
                      bench_cmd("cpu", "resnet18", 32, 2, "fp32", 1, "off", out), what="the step without graphs"))
    steps.append(step("torch-baseline", 150, "torch",
                      ["python3", "{shared}/bench/torch_baseline.py", "--nets", ",".join(NETS), "--crops", "128",
                       "--batch", "512", "--modes", "fp32,bf16,graph", "--steps", "10", "--warm", "3", "--json",
                       "{work}/torch.json"],
                      ["python3", "{shared}/bench/torch_baseline.py", "--nets", "resnet18", "--crops", "32",
                       "--batch", "2", "--modes", "fp32", "--steps", "1", "--warm", "0", "--device", "cpu",
                       "--json", "{work}/torch.json"],
                      what="PyTorch's step for the same nets and settings, in the same run"))
    steps.append(step("bench-table", 5, "bench-table", what="our img/s next to PyTorch's, and the ratios"))
    return {"name": "bench", "what": "training throughput next to PyTorch's on the same GPU", "steps": steps}


def train():
    steps = [libraries(),
             step("unpack", 60, "command", ["tar", "-xzf", "{shared}/data/cifar10-jpg.tar.gz", "-C", "{work}/cifar10"],
                  ["tar", "-xzf", "{shared}/data/cifar10-jpg.tar.gz", "-C", "{work}/cifar10", "--wildcards",
                   "*/000[0-3].jpg"], what="the CIFAR-10 JPEG folders (the twin: 4 images per class and split)",
                  needs="{shared}/data/cifar10-jpg.tar.gz")]
    for delta, limit in (("1", 120), ("0.5", 90)):  # the first run also decodes and caches the images
        steps.append(step("dybat-delta" + delta, limit, "command",
                          ["{bin}/train", "--net", "resnet18", "--delta", delta, "--dataset", "folder", "--data",
                           "{cifar10}", "--crop", "32", "--batch-size", "512", "--epochs", "3", "--device", "cuda",
                           "--out", "{work}/run-d" + delta],
                          ["{bin}/train", "--net", "resnet18", "--delta", delta, "--dataset", "folder", "--data",
                           "{cifar10}", "--crop", "32", "--batch-size", "8", "--epochs", "2", "--device", "cpu",
                           "--out", "{work}/run-d" + delta],
                          what="3 epochs of CIFAR-10, crop 32, batch 512", needs="{cifar10}/train"))
    for delta in ("1", "0.5"):
        steps.append(step("torch-delta" + delta, 100, "torch",
                          ["python3", "{shared}/bench/torch_paper_run.py", "--data", "{cifar10}", "--net", "resnet18",
                           "--delta", delta, "--epochs", "3", "--crop", "32", "--batch", "512", "--lr", "0.005",
                           "--json", "{work}/torch-d" + delta + ".json"],
                          ["python3", "{shared}/bench/torch_paper_run.py", "--data", "{cifar10}", "--net", "resnet18",
                           "--delta", delta, "--epochs", "1", "--crop", "32", "--batch", "8", "--device", "cpu",
                           "--json", "{work}/torch-d" + delta + ".json"],
                          what="the original's script with the same settings", needs="{cifar10}/train"))
    steps.append(step("train-table", 5, "train-table", what="test top-1 by epoch, both implementations"))
    return {"name": "train", "what": "a short real CIFAR-10 run (delta 1 and 0.5) next to PyTorch's",
            "steps": steps}


def tiers():
    out = [quick(), sanitize(), bench(), train()]
    for i, t in enumerate(out):
        t["order"] = i + 1
        t["limit_s"] = sum(s["limit_s"] for s in t["steps"])
        t["command"] = "tools/gpu-check " + t["name"]
        t["writes"] = [t["name"] + "/" + f for f in WRITES]
    return out


def plan():
    return {"command_limit_s": COMMAND_LIMIT_S, "device_budget_s": DEVICE_BUDGET_S,
            "machine_start_s": MACHINE_START_S, "first_tier_limit_s": FIRST_TIER_LIMIT_S,
            "tier_limit_s": TIER_LIMIT_S, "machine_groups": MACHINE_GROUPS, "tiers": tiers()}
