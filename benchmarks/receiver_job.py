"""Benchmark 6: the whole receiver job — checkout + deploy + push — at 10 and 5,000 apps.

The checkout is what actions/checkout does in the receiver workflows, with git alone: a depth-1
clone of the whole config repo (before), or a partial clone (`--filter=blob:none`) with a
sparse checkout (cone mode) of the overlay's app folder, `apps/<app>` (after; what
image-update.yml and cronjob-update.yml now ask of actions/checkout). Then the deploy: the
image-update command (edit, commit, fetch → push) against the bare origin. Each run is a fresh
clone, as each job is a fresh runner. The origin is a local bare repository with
`uploadpack.allowFilter` (GitHub serves partial clones); a config repo of `apps x 4 overlays`.

Usage: python -m benchmarks.receiver_job [--sizes 10,5000] [--runs 5] [--modes full,sparse]
[--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.lib import git, machine, make_config_repo, ours, summary

MODES = ("full", "sparse", "sparse-index", "sparse-index-first", "workflow")


def checkout(bare: Path, dest: Path, app: str, mode: str) -> None:
    """full: a depth-1 clone; sparse: what actions/checkout does with `filter: blob:none` and
    `sparse-checkout` (cone); sparse-index: the same, then the receiver workflows' next step,
    `git sparse-checkout set --cone --sparse-index` (the index holds the cone only);
    sparse-index-first: `index.sparse=true` in the clone's config before the checkout, so that
    the checkout writes a sparse index at once); workflow: what the receiver workflows do now,
    sparse with `index.sparse` set for the checkout's git only (the step's `GIT_CONFIG_*`), then
    their "Keep the index sparse" step (`index.sparse` and
    `sparse.expectFilesOutsideOfPatterns` in the clone's config)."""
    url = f"file://{bare}"  # file:// so that --depth and --filter apply to a local origin
    if mode == "full":
        git(dest.parent, "clone", "-q", "--depth", "1", "--config", "gc.auto=0", url, str(dest))
        return
    first = ("--config", "index.sparse=true") if mode == "sparse-index-first" else ()
    git(dest.parent, "clone", "-q", "--depth", "1", "--filter=blob:none", "--no-checkout",
        "--config", "gc.auto=0", *first, url, str(dest))
    step = ("-c", "index.sparse=true") if mode == "workflow" else ()
    git(dest, *step, "sparse-checkout", "set", "--cone", f"apps/{app}")
    git(dest, *step, "checkout", "-q", "main")
    if mode == "workflow":
        git(dest, "config", "--local", "index.sparse", "true")
        git(dest, "config", "--local", "sparse.expectFilesOutsideOfPatterns", "true")
    if mode == "sparse-index":
        git(dest, "sparse-checkout", "set", "--cone", "--sparse-index", f"apps/{app}")


def one_job(bare: Path, root: Path, n: int, mode: str, version: str) -> dict[str, float]:
    app = f"app-{n % 7:05d}"
    dest = root / f"job-{mode}-{version}"
    start = time.perf_counter()
    checkout(bare, dest, app, mode)
    checked_out = time.perf_counter()
    result = ours(dest, app, version, extra=("--fan-out", "true"))
    done = time.perf_counter()
    if result.returncode != 0:
        raise RuntimeError(f"deploy failed:\n{result.stdout}\n{result.stderr}")
    shutil.rmtree(dest, ignore_errors=True)
    return {"checkout": checked_out - start, "deploy": done - checked_out, "total": done - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,5000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    print(f"machine: {machine()}")
    print(f"{'apps':>5} {'checkout':>8} | {'checkout p50':>12} {'deploy p50':>10} "
          f"{'total p50':>9} {'total max':>9}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-receiver-job-") as tmp:
        for apps in sizes:
            root = Path(tmp) / str(apps)
            root.mkdir()
            bare = make_config_repo(root, apps)
            git(bare, "config", "uploadpack.allowFilter", "true")
            times: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
            for run in range(args.runs):  # alternate, so all see the same machine load
                for number, mode in enumerate(modes, start=1):
                    version = f"v{apps}.{run}.{number}"
                    times[mode].append(one_job(bare, root, run, mode, version))
            for mode, samples in times.items():
                row = {"apps": apps, "mode": mode,
                       **{k: summary([s[k] for s in samples]) for k in ("checkout", "deploy",
                                                                         "total")}}
                rows.append(row)
                print(f"{apps:>5} {mode:>8} | {row['checkout']['p50']:>11.3f}s "
                      f"{row['deploy']['p50']:>9.3f}s {row['total']['p50']:>8.3f}s "
                      f"{row['total']['max']:>8.3f}s", flush=True)
            shutil.rmtree(root, ignore_errors=True)
    by = {(r["apps"], r["mode"]): r["total"]["p50"] for r in rows}
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        for mode in modes:
            print(f"{mode}: {large} apps / {small} apps = {by[(large, mode)] / by[(small, mode)]:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
