"""Benchmark 2: one deploy (edit + commit + push to a local bare origin) against config-repo size.

For each size (apps x 4 overlays) it builds a repo, then alternates deploys by gitops-release and
by the seed's receiver steps (the baseline, same run, same machine), each in its own clone, and
prints the median and spread. Usage: python -m benchmarks.repo_size [--sizes 10,100,1000,5000]
[--runs 5] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.lib import baseline, clone, git, machine, make_config_repo, ours, summary, timed


def measure(apps: int, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-size-{apps}-") as tmp:
        root = Path(tmp)
        bare = make_config_repo(root, apps)
        # Each side deploys to its own origin (a copy of the same repo), so the two never conflict.
        base_bare = root / "origin-baseline.git"
        git(root, "clone", "-q", "--bare", "--no-hardlinks", str(bare), str(base_bare))
        ours_clone = clone(bare, root / "ours")
        base_clone = clone(base_bare, root / "baseline")
        times: dict[str, list[float]] = {"ours": [], "baseline": []}
        for run in range(runs):
            app = f"app-{(run * 7919) % apps:05d}"
            version = f"v1.{run + 1}.0"
            seconds, result = timed(ours, ours_clone, app, version)
            if result.returncode != 0:
                raise RuntimeError(f"gitops-release failed:\n{result.stdout}\n{result.stderr}")
            times["ours"].append(seconds)
            seconds, result = timed(baseline, base_clone, app, f"v2.{run + 1}.0")
            if result.returncode != 0:
                raise RuntimeError(f"baseline failed:\n{result.stdout}\n{result.stderr}")
            times["baseline"].append(seconds)
        return {"apps": apps, "files": apps * 10, "runs": runs,
                "ours": summary(times["ours"]), "baseline": summary(times["baseline"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{'apps':>6} {'files':>7} | {'ours p50':>9} {'min':>7} {'max':>7} | "
          f"{'baseline p50':>12} {'min':>7} {'max':>7} | ratio")
    rows = []
    for apps in (int(s) for s in args.sizes.split(",")):
        row = measure(apps, args.runs)
        rows.append(row)
        o, b = row["ours"], row["baseline"]
        assert isinstance(o, dict) and isinstance(b, dict)
        print(f"{apps:>6} {apps * 10:>7} | {o['p50']:>8.3f}s {o['min']:>6.3f}s {o['max']:>6.3f}s | "
              f"{b['p50']:>11.3f}s {b['min']:>6.3f}s {b['max']:>6.3f}s | "
              f"{b['p50'] / o['p50']:.2f}x", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
