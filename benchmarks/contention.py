"""Benchmark 3: N deploys of different apps at once against one origin.

Each deploy runs in its own clone (as each receiver job has its own runner), all started
together. gitops-release (fetch, reset, re-apply, commit, push; bounded retries with jitter) is
compared with the seed's steps (one `git pull --rebase && git push`). Reports how many land and the
p50/p95 time to land. Usage: python -m benchmarks.contention [--levels 1,5,20,50,100] [--max-attempts N]
[--no-baseline] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.lib import baseline, clone, git, machine, make_config_repo, ours, summary


def burst(bare: Path, root: Path, n: int, label: str,
          deploy: Callable[[Path, str, str], subprocess.CompletedProcess[str]]) -> dict[str, object]:
    clones = [clone(bare, root / f"{label}-{n}-{i}") for i in range(n)]
    before = int(git(bare, "rev-list", "--count", "main").strip())

    patch = 1 if label == "ours" else 2  # a new version on each side: never "nothing to commit"

    def one(i: int) -> tuple[bool, float, str]:
        start = time.perf_counter()
        result = deploy(clones[i], f"app-{i:05d}", f"v{n}.{i}.{patch}")
        return result.returncode == 0, time.perf_counter() - start, result.stdout + result.stderr

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    after = int(git(bare, "rev-list", "--count", "main").strip())
    landed_times = [t for ok, t, _ in results if ok]
    losses: dict[str, int] = {}
    for ok, _, output in results:
        if not ok:
            reason = loss_reason(output)
            losses[reason] = losses.get(reason, 0) + 1
    for path in clones:
        shutil.rmtree(path, ignore_errors=True)
    return {"n": n, "reported_ok": len(landed_times), "commits_landed": after - before,
            "losses": losses, "time": summary(landed_times) if landed_times else None}


def loss_reason(output: str) -> str:
    """Why a deploy did not land, in a few words."""
    if "CONFLICT" in output or "could not apply" in output:
        return "rebase conflict"
    if "fetch first" in output or "non-fast-forward" in output or "rejected" in output:
        return "push rejected (lost the race)"
    if "lock" in output:
        return "ref lock held by another push"
    if "lost the race" in output:
        return "retries exhausted"
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:80] if lines else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="1,5,20,50,100")
    parser.add_argument("--max-attempts", type=int, default=0,
                        help="the image-update command's --max-attempts (0: its default)")
    parser.add_argument("--no-baseline", action="store_true", help="only ours")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    print(f"machine: {machine()}")
    print(f"{'N':>3} | {'ours landed':>11} {'p50':>7} {'p95':>7} | {'baseline landed':>15} "
          f"{'p50':>7} {'p95':>7}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
        root = Path(tmp)
        bare = make_config_repo(root, max(levels))
        for n in levels:
            extra = ("--max-attempts", str(args.max_attempts)) if args.max_attempts else ()
            mine = burst(bare, root, n, "ours",
                         lambda w, a, v, extra=extra: ours(w, a, v, extra=extra))
            base = (burst(bare, root, n, "base", baseline) if not args.no_baseline
                    else {"n": n, "commits_landed": 0, "losses": {}, "time": None})
            rows.append({"n": n, "ours": mine, "baseline": base})

            def fmt(row: dict[str, object], n: int = n) -> str:
                t = row["time"]
                if not isinstance(t, dict):
                    return f"{row['commits_landed']:>3}/{n:<3}      -       -"
                return f"{row['commits_landed']:>3}/{n:<3} {t['p50']:>6.2f}s {t['p95']:>6.2f}s"

            print(f"{n:>3} | {fmt(mine):>27} | {fmt(base):>31} | baseline losses: "
                  f"{base['losses'] or '-'}; ours: {mine['losses'] or '-'}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "max_attempts": args.max_attempts,
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
