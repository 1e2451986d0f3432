#!/usr/bin/python3
"""Draws docs/life-of-a-step.png: one training step of dybat on a CUDA device, what the host does,
what runs on the device, what the CUDA graph holds, and which device memory each kernel reads or
writes. Run it from the repository root after changing the step: /usr/bin/python3 docs/life_of_a_step.py
(needs Debian's python3-matplotlib).
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

HOST, DEVICE, MEMORY = "#dbe9f6", "#fde2c8", "#e3f1dc"

# The step's device work in the order train/trainer.cpp's step_work queues it:
# (label, device memory it reads, device memory it writes).
KERNELS = [
    ("begin_schedule\n_step (top-k at\na pass start)", ["score", "counters"], ["order", "counters"]),
    ("lr for this step\n(schedules only)", ["counters"], ["lr"]),
    ("gather batch id\nresize, normalise", ["dataset", "counters"], ["x, y"]),
    ("forward\nconv, BN, act, pool, fc", ["x, y", "weights"], []),
    ("cross-entropy\nper-sample losses", [], []),
    ("record_step_loss\nmean -> score[id]", ["counters"], ["score", "trace", "counters"]),
    ("zero grads,\nbackward", ["weights"], ["grads"]),
    ("SGD (multi-tensor)", ["grads", "lr"], ["weights"]),
]
MEMORY_CELLS = ["score", "order", "counters", "lr", "dataset", "x, y", "weights", "grads", "trace"]


def box(ax, x, y, w, h, text, color, size=8, weight="normal"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor="#555555", linewidth=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight)


def main():
    fig, ax = plt.subplots(figsize=(14, 7.2))
    ax.set_xlim(0, 14)
    ax.set_ylim(0, 7.2)
    ax.axis("off")
    ax.text(0.1, 6.95, "One training step on a CUDA device (train/trainer.cpp, Trainer::Impl::train_step)",
            fontsize=12, weight="bold", va="top")

    # Host lane.
    ax.text(0.1, 6.2, "host", fontsize=10, weight="bold")
    host = [("check_step(s)\nthe host's own count", 1.0), ("set_step(s)\n(augmenting sources)", 2.9),
            ("graph replay:\none cudaGraphLaunch", 4.8), ("step_done()\ns += 1", 11.2)]
    for text, x in host:
        box(ax, x, 5.75, 1.7, 0.75, text, HOST)
    ax.annotate("", xy=(11.2, 6.12), xytext=(6.5, 6.12), arrowprops=dict(arrowstyle="->", color="#777777"))
    ax.text(8.85, 6.25, "returns at once: nothing is read back", ha="center", fontsize=8, style="italic")

    # Device lane: the captured graph.
    ax.text(0.1, 5.05, "device\nstream", fontsize=10, weight="bold", va="top")
    ax.add_patch(FancyBboxPatch((0.95, 3.45), 12.1, 1.75, boxstyle="round,pad=0.02,rounding_size=0.1",
                                facecolor="none", edgecolor="#c0504d", linewidth=1.4, linestyle="--"))
    ax.text(1.05, 5.0, "the CUDA graph: captured once (third step), replayed for every later step",
            fontsize=9, color="#c0504d", weight="bold")
    ax.annotate("", xy=(6.1, 5.2), xytext=(6.1, 5.75), arrowprops=dict(arrowstyle="->", color="#c0504d"))
    width, gap = 1.38, 0.13
    centers = {}
    for i, (text, _, _) in enumerate(KERNELS):
        x = 1.05 + i * (width + gap)
        box(ax, x, 3.6, width, 0.95, text, DEVICE, size=7)
        centers[i] = x + width / 2
        if i:
            ax.annotate("", xy=(x, 4.07), xytext=(x - gap, 4.07), arrowprops=dict(arrowstyle="->", lw=0.8))

    # Device memory: every value a step needs that changes from step to step lives here.
    ax.text(0.1, 2.35, "device\nmemory", fontsize=10, weight="bold", va="top")
    cell_w = 12.1 / len(MEMORY_CELLS)
    cell_x = {}
    for j, name in enumerate(MEMORY_CELLS):
        x = 0.95 + j * cell_w
        box(ax, x + 0.05, 1.55, cell_w - 0.1, 0.7, name, MEMORY, size=8.5, weight="bold")
        cell_x[name] = x + cell_w / 2
    for i, (_, reads, writes) in enumerate(KERNELS):
        for name in reads:
            ax.annotate("", xy=(centers[i] - 0.12, 3.6), xytext=(cell_x[name] - 0.12, 2.25),
                        arrowprops=dict(arrowstyle="->", color="#4f81bd", lw=0.7, alpha=0.8))
        for name in writes:
            ax.annotate("", xy=(cell_x[name] + 0.12, 2.25), xytext=(centers[i] + 0.12, 3.6),
                        arrowprops=dict(arrowstyle="->", color="#c0504d", lw=0.7, alpha=0.8))
    ax.text(0.95, 1.25, "blue: read by a kernel    red: written by a kernel    "
            "counters = [step, trace slot, batch id]; order = this pass's batch ids; score = each batch's last loss",
            fontsize=8)

    # What happens between steps.
    box(ax, 0.95, 0.15, 12.1, 0.75,
        "every b steps (or when the trace buffer is full): flush = the host copies the trace rows and the non-finite "
        "flag out (its only reads of training);\nthen the evaluation batches (one graph per split), the metrics row and an "
        "atomic checkpoint (weights, momentum, score, order, step)", HOST, size=8.5)

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "life-of-a-step.png")
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(out)


if __name__ == "__main__":
    main()
