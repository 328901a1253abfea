"""Benchmark: one deploy with the render proof (discover, render before/after with kustomize, edit,
commit, push to a local bare origin) against the number of apps in the config repo.

The proof renders only the overlay's own kustomize tree, so its cost should follow the size of
that tree, not of the repository. Prints p50/min/max of the whole deploy and the rendering's
share. ``--checkout workflow`` deploys, each run, from a fresh checkout of the app's folder as the
receiver workflows make it (benchmarks.receiver_job's mode "workflow"; not timed), instead of one
full clone. Usage: python -m benchmarks.render_proof [--sizes 10,2000] [--runs 7]
[--checkout full|workflow] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from pathlib import Path

from benchmarks.lib import clone, git, machine, make_config_repo, ours, summary, timed
from benchmarks.receiver_job import checkout

RENDER_RE = re.compile(r"proof of \S+: .*?, ([0-9]+) ms rendering")


def measure(apps: int, runs: int, mode: str = "full") -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-proof-{apps}-") as tmp:
        root = Path(tmp)
        bare = make_config_repo(root, apps)
        git(bare, "config", "uploadpack.allowFilter", "true")
        work = clone(bare, root / "clone")
        ours(work, "app-00000", "v0.9.0")  # warm the page cache and bytecode
        totals, renders = [], []
        for run in range(runs):
            app = f"app-{(run * 7919) % apps:05d}"
            if mode == "workflow":
                work = root / f"job-{run}"
                checkout(bare, work, app, "workflow")
            seconds, result = timed(ours, work, app, f"v1.{run + 1}.0")
            if result.returncode != 0:
                raise RuntimeError(f"deploy failed:\n{result.stdout}\n{result.stderr}")
            found = RENDER_RE.search(result.stdout)
            if found is None:
                raise RuntimeError(f"no render timing in:\n{result.stdout}")
            totals.append(seconds)
            renders.append(int(found.group(1)) / 1000)
        return {"apps": apps, "runs": runs, "checkout": mode, "deploy": summary(totals),
                "render": summary(renders),
                "render_share": statistics.median(renders) / statistics.median(totals)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,2000")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--checkout", choices=("full", "workflow"), default="full")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{'apps':>6} | {'deploy p50':>10} {'min':>7} {'max':>7} | {'render p50':>10} | share")
    rows = []
    for apps in (int(s) for s in args.sizes.split(",")):
        row = measure(apps, args.runs, args.checkout)
        rows.append(row)
        d, r = row["deploy"], row["render"]
        assert isinstance(d, dict) and isinstance(r, dict)
        print(f"{apps:>6} | {d['p50']:>9.3f}s {d['min']:>6.3f}s {d['max']:>6.3f}s | "
              f"{r['p50']:>9.3f}s | {row['render_share']:.0%}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
