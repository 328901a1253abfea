"""Draw benchmarks/results/benchmarks.png from the results JSON: deploy time against config-repo
size and deploys landed against concurrency, gitops-release beside the baseline.

Needs matplotlib (scripts/bench installs it into a venv of its own).
Usage: python benchmarks/plot.py RESULTS_DIR"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OURS = ("gitops-release", "#1f77b4")
BASE = ("baseline: seed's receiver steps", "#d62728")


def repo_size(ax: plt.Axes, data: dict) -> None:  # type: ignore[type-arg]
    rows = data["rows"]
    files = [r["files"] for r in rows]
    for key, (label, color) in (("ours", OURS), ("baseline", BASE)):
        p50 = [r[key]["p50"] for r in rows]
        low = [r[key]["p50"] - r[key]["min"] for r in rows]
        high = [r[key]["max"] - r[key]["p50"] for r in rows]
        ax.errorbar(files, p50, yerr=[low, high], marker="o", capsize=3, label=label, color=color)
    ax.set_xscale("log")
    ax.set_xticks(files, [f"{r['apps']:,} apps\n{r['files']:,} files" for r in rows])
    ax.set_ylim(bottom=0)
    ax.set_ylabel("one deploy: edit, commit, push (s, median, min-max)")
    ax.set_title("Deploy time against config-repo size")
    ax.grid(alpha=0.3)
    ax.legend()


def contention(ax: plt.Axes, data: dict) -> None:  # type: ignore[type-arg]
    rows = data["rows"]
    levels = [r["n"] for r in rows]
    x = range(len(levels))
    width = 0.38
    for offset, key, (label, color) in ((-width / 2, "ours", OURS), (width / 2, "baseline", BASE)):
        landed = [r[key]["commits_landed"] for r in rows]
        bars = ax.bar([i + offset for i in x], landed, width, label=label, color=color)
        ax.bar_label(bars, [f"{n}/{r['n']}" for n, r in zip(landed, rows, strict=True)], fontsize=8)
    ax.set_xticks(list(x), [f"N = {n}" for n in levels])
    ax.set_ylabel("deploys landed on the origin")
    ax.set_title("N deploys of different apps at once")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()


def main(argv: list[str]) -> int:
    results = Path(argv[0]) if argv else Path(__file__).parent / "results"
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    repo_size(left, json.loads((results / "repo_size.json").read_text()))
    contention(right, json.loads((results / "contention.json").read_text()))
    fig.tight_layout()
    out = results / "benchmarks.png"
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
