"""Benchmark 4: the whole chain through act, push to main → deploy commit in the config repo.

The example app repo's own dev workflow runs under act (release.yml@v1: build-push to a real
registry with auth, dispatch to the local GitHub API), the API delivers repository_dispatch to the
example config repo's receiver workflow under act (image-update), which pushes a deploy commit to
the config repo's bare origin. The first release warms the build cache and the action venvs; the
measured releases each follow a new commit to the app (one changed file, as a push to main has).

Per release, the stages come from the durations act prints for each step ("✅  Success - Main ...
[1.8s]") and from buildkit's own push timings: build (build-push step minus its push), push,
dispatch (the dispatch step), receiver (the image-update step); "act and delivery" is the rest
(act's job set-up, checkouts, the API handing the event to act). Baseline for scale: the polling
peers' default intervals (text in BENCHMARKS.md; nothing to run offline).

Usage: python -m benchmarks.chain [--runs 3] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from tests.harness.act import Act, snapshot_bundle
from tests.harness.chain import ChainRun, LocalChain
from tests.harness.gitrepo import GitRepo, git
from tests.harness.services import ensure_docker_engine, run_registry

from benchmarks.lib import machine, summary

TOKEN = "ghp_benchChainToken0123456789abcdef"  # noqa: S105 - a fake token for the local API
STEP = re.compile(r"✅  Success - Main (.+?) \[([\d.]+)(µs|ms|s|m)\]")
PUSH_DONE = re.compile(r"\| #\d+ pushing (?:layers|manifest for \S+) ([\d.]+)s done")
VERTEX = re.compile(r"\| #(\d+) (.*)")
VERTEX_DONE = re.compile(r"\| #(\d+) DONE ([\d.]+)s")
UNIT = {"µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
VENVS = Path.home() / ".cache" / "gitops-release" / "bench-action-venvs"


def step_seconds(log: str, needle: str) -> float:
    """The duration act printed for the (innermost) step whose name contains ``needle``."""
    found = [float(m.group(2)) * UNIT[m.group(3)] for m in STEP.finditer(log)
             if needle in m.group(1)]
    if not found:
        raise RuntimeError(f"no finished step {needle!r} in the act log")
    return min(found)  # the composite's inner `run:` step, not its wrapper


def push_seconds(log: str) -> float:
    """buildkit's time spent pushing: the registry push of layers and manifests, and any
    'pushing <image> with docker' vertex."""
    total = sum(float(m.group(1)) for m in PUSH_DONE.finditer(log))
    names: dict[str, str] = {}
    for m in VERTEX.finditer(log):
        names.setdefault(m.group(1), m.group(2))
    for m in VERTEX_DONE.finditer(log):
        if names.get(m.group(1), "").startswith("pushing "):
            total += float(m.group(2))
    return total


def stages(run: ChainRun) -> dict[str, float]:
    build_push = step_seconds(run.app.log, "build-push build-push")
    push = min(push_seconds(run.app.log), build_push)
    receiver_log = "\n".join(d.log for d in run.deliveries)
    result = {"build": build_push - push, "push": push,
              "dispatch": step_seconds(run.app.log, "dispatch dispatch"),
              "receiver": step_seconds(receiver_log, "image-update image-update")}
    result["act and delivery"] = max(0.0, run.seconds - sum(result.values()))
    result["total"] = run.seconds
    return result


def release(chain: LocalChain, app: GitRepo, label: str) -> ChainRun:
    """Commit a change to the app, run its dev release; check the deploy commit landed."""
    (app.work / "hello.txt").write_text(f"hello from {label} at {time.time()}\n", encoding="utf-8")
    app.commit_all(f"Change for {label}")
    run = chain.release(app, "refs/heads/main")
    if not run.ok:
        raise RuntimeError(f"the release {label} failed:\n{run}")
    subject = git(chain.config_repo.bare, "log", "-1", "--format=%s", "main").strip()
    if not subject.startswith("Deploy web-api@"):
        raise RuntimeError(f"no deploy commit on the config repo's origin: {subject!r}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    ensure_docker_engine()
    root = Path(tempfile.mkdtemp(prefix="bench-chain-"))
    try:
        act = Act(bundle=snapshot_bundle(root / "bundle"), venv_root=VENVS)
        with run_registry(root / "registry") as registry, \
                LocalChain(root, act, registry, token=TOKEN) as chain:
            app = chain.make_app("web-api")
            venvs_existed = VENVS.exists()
            first = release(chain, app, "warm-up")
            print(f"warm-up release (fills the build cache; action venvs "
                  f"{'reused' if venvs_existed else 'made'}): {first.seconds:.1f} s", flush=True)
            runs = []
            for i in range(args.runs):
                run = release(chain, app, f"release {i + 1}")
                runs.append(stages(run))
                print("  " + ", ".join(f"{k} {v:.2f}s" for k, v in runs[-1].items()), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    keys = list(runs[0])
    table = {k: summary([r[k] for r in runs]) for k in keys}
    print(f"{'stage':<17} | {'p50':>7} {'min':>7} {'max':>7}")
    for k in keys:
        print(f"{k:<17} | {table[k]['p50']:>6.2f}s {table[k]['min']:>6.2f}s {table[k]['max']:>6.2f}s")
    print("for scale: Argo CD Image Updater polls registries every 2 min by default; Flux's image "
          "reflector scans on an interval and its automation commits on another")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "warm_up_seconds": first.seconds,
                                         "runs": runs, "stages": table}, indent=2))


if __name__ == "__main__":
    main()
