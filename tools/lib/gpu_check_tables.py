"""What tools/gpu-check keeps from a step (the benchmark's JSON, a run's metrics) and the tables of
the bench and train tiers, built from the tier's scratch folder."""
import csv
import glob
import json
import os
import re


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def metrics_rows(run_dir):
    path = os.path.join(run_dir, "metrics.csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return list(csv.DictReader(f))


def step_data(argv, work):
    """The record a step left behind: the file after --json, or the metrics of the run after --out."""
    for flag in ("--json", "--out"):
        if flag in argv and argv.index(flag) + 1 < len(argv):
            path = argv[argv.index(flag) + 1]
            return read_json(path) if flag == "--json" else metrics_rows(path)
    return None


TORCH_LINE = re.compile(r"^(\S+)\s+crop\s+(\d+)\s+(\S+)\s+([\d.]+) ms/step\s+([\d.]+) img/s")


def torch_rows(text):
    """The rows torch_baseline.py printed (what it had measured when it stopped)."""
    rows = []
    for line in text.splitlines():
        m = TORCH_LINE.match(line)
        if m:
            rows.append({"net": m.group(1), "crop": int(m.group(2)), "mode": m.group(3),
                         "ms_per_step": float(m.group(4)), "img_per_s": float(m.group(5))})
    return rows


def bench(work):
    """Our img/s next to PyTorch's: speed-up above 1 is faster than PyTorch. Eager compares with
    PyTorch at the same precision, graph with PyTorch's fp32 step captured in a CUDA graph."""
    torch = {}
    for r in read_json(os.path.join(work, "torch.json")) or []:
        torch[(r.get("net"), r.get("crop"), r.get("mode"))] = r.get("img_per_s")
    lines = ["%-24s %4s %5s %5s %8s %8s %8s %11s %8s %11s %8s" % (
        "net", "crop", "prec", "graph", "ms/step", "img/s", "TFLOP/s", "torch eager", "speed-up", "torch graph",
        "speed-up")]
    rows = []
    for path in sorted(glob.glob(os.path.join(work, "dybat-*.json"))):
        r = read_json(path) or {}
        ours, prec = r.get("img_per_s"), r.get("precision", "fp32")
        te = torch.get((r.get("net"), r.get("crop"), "bf16" if prec == "bf16" else "fp32"))
        tg = torch.get((r.get("net"), r.get("crop"), "graph")) if prec != "bf16" else None

        def up(t):
            return "%8.2f" % (ours / t) if ours and t else "       -"
        lines.append("%-24s %4s %5s %5s %8.2f %8.0f %8.1f %11.0f %s %11.0f %s" % (
            r.get("net", "?"), r.get("crop", "?"), prec, "on" if r.get("cuda_graph") else "off",
            r.get("ms_per_step") or 0, ours or 0, r.get("tflop_per_s") or 0, te or 0, up(te), tg or 0, up(tg)))
        rows.append({"net": r.get("net"), "crop": r.get("crop"), "precision": prec, "img_per_s": ours,
                     "torch_eager_img_per_s": te, "torch_graph_img_per_s": tg})
    if not rows:
        lines.insert(0, "no benchmark results")
    return "\n".join(lines), rows


def train(work):
    """Test top-1 by epoch for both deltas and both implementations."""
    lines, data = [], {}
    for d in ("1", "0.5"):
        rows = metrics_rows(os.path.join(work, "run-d" + d))
        if rows:
            top1 = [round(float(r["test_top1"]), 2) for r in rows]
            data["dybat-d" + d] = top1
            lines.append("dybat delta %s: test top-1 by epoch %s, elapsed %s s" % (d, top1, rows[-1]["elapsed_s"]))
        t = read_json(os.path.join(work, "torch-d%s.json" % d))
        if t is not None:
            data["torch-d" + d] = t
            lines.append("torch delta %s: %s" % (d, json.dumps(t)[:300]))
    return "\n".join(lines) if lines else "no training results", data
