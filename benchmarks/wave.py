"""Benchmark: a wave of N deploys of N different apps started at once, each from its own clone of
one local bare origin (as N receiver jobs on N runners), with group commit (the default) and,
for comparison, the plain retry loop (``--group-commit false``, ``max-attempts`` 20).

Reports per N: how many deploys landed, commits on the origin (one per deploy expected), whether
the history is linear, pushes that moved the branch, push attempts in all (each receiver prints
its own count), and the wall time from the first start to the last exit.
Usage: python -m benchmarks.wave [--levels 50,100,200,400] [--plain-levels 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.lib import clone, env, git, machine, make_config_repo

ATTEMPTS = re.compile(r"push attempts by this deploy: (\d+)")


def start(workdir: Path, app: str, version: str, extra: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitops_release", "image-update",
         "--image", f"registry.example.com/{app}:{version}", "--release", f"{app}@{version}",
         "--path", f"apps/{app}/overlays/dev", "--fan-out", "false", *extra],
        cwd=workdir, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wave(root: Path, n: int, label: str, extra: list[str], timeout: float) -> dict[str, object]:
    bare = make_config_repo(root, n, overlays=("dev",), name=f"{label}-{n}")
    git(bare, "config", "core.logAllRefUpdates", "always")  # count the pushes that landed
    clones = [clone(bare, root / f"{label}-{n}-{i}") for i in range(n)]
    begin = time.perf_counter()
    procs = [start(clones[i], f"app-{i:05d}", "v2.0.0", extra) for i in range(n)]
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=max(1.0, timeout - (time.perf_counter() - begin)))[0])
        except subprocess.TimeoutExpired:
            proc.kill()
            outputs.append(proc.communicate()[0] + "\n(killed: benchmark timeout)")
    wall = time.perf_counter() - begin
    subjects = git(bare, "log", "--format=%s", "main").splitlines()
    deploys = [s for s in subjects if s.startswith("Deploy ")]
    failures = [out.strip().splitlines()[-1][:160] for proc, out in zip(procs, outputs, strict=True)
                if proc.returncode != 0 and out.strip()]
    row = {
        "n": n, "mode": label,
        "exit_0": sum(1 for p in procs if p.returncode == 0),
        "deploy_commits": len(deploys), "distinct": len(set(deploys)),
        "linear": git(bare, "rev-list", "--merges", "main").strip() == "",
        "branch_updates": len(git(bare, "reflog", "show", "--format=%H", "main").split()) - 1,
        "push_attempts": sum(int(m) for out in outputs for m in ATTEMPTS.findall(out)),
        "pending_left": len(git(bare, "for-each-ref", "refs/gitops-release/pending/").split("\n")) - 1,
        "wall_s": round(wall, 1), "failures": failures[:3],
    }
    for path in clones:
        shutil.rmtree(path, ignore_errors=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="50,100,200,400")
    parser.add_argument("--plain-levels", default="50", help="levels for the plain loop ('' none)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per wave, seconds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{'mode':>6} {'N':>4} | {'exit 0':>6} {'commits':>7} {'linear':>6} {'pushes':>6} "
          f"{'attempts':>8} {'wall':>7}")
    rows = []
    plans = [("group", int(n), []) for n in args.levels.split(",") if n]
    plans += [("plain", int(n), ["--group-commit", "false", "--max-attempts", "20"])
              for n in args.plain_levels.split(",") if n]
    for label, n, extra in plans:
        with tempfile.TemporaryDirectory(prefix="bench-wave-") as tmp:
            row = wave(Path(tmp), n, label, extra, args.timeout)
        rows.append(row)
        print(f"{label:>6} {n:>4} | {row['exit_0']:>6} {row['deploy_commits']:>7} "
              f"{row['linear']!s:>6} {row['branch_updates']:>6} {row['push_attempts']:>8} "
              f"{row['wall_s']:>6}s {row['failures'] or ''}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
