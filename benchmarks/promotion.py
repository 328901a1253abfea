"""Benchmark 6: a tag release by promotion against a tag release by rebuild.

Each round makes an app no cache has seen (fresh random assets, a new image name) and runs the
build-push command (the code the action runs) as a push to main (the dev build: timestamp tag,
revision label = the commit), then twice as the push of the tag v1.2.3 of the same commit:
``promote: never`` (the baseline, same run: buildx builds linux/amd64 and linux/arm64 again, with
the registry cache the dev build left, and pushes) and ``promote: auto`` (finds the dev image by
its revision label and re-tags its digest with buildx imagetools). The order of the two
alternates between rounds. Images are `FROM scratch` with ``--assets-mb`` of files.

Usage: python -m benchmarks.promotion [--rounds 3] [--assets-mb 32] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.services import Registry, ensure_docker_engine, run_registry

from benchmarks.build_cache import make_app
from benchmarks.lib import REPO_ROOT, env, machine, summary


def build_push(registry: Registry, folder: Path, image: str, ref: str, sha: str,
               promote: str) -> tuple[float, str]:
    outputs = folder.parent / f"outputs-{secrets.token_hex(4)}"
    environ = {**env(), "GITOPS_RELEASE_PASSWORD": registry.password,
               "RUNNER_TEMP": str(folder.parent), "GITHUB_REF": ref, "GITHUB_SHA": sha,
               "GITHUB_REPOSITORY": "acme/bench", "GITHUB_OUTPUT": str(outputs)}
    args = [sys.executable, "-m", "gitops_release", "build-push", "--registry", registry.host,
            "--username", registry.username, "--image-name", image, "--context", str(folder),
            "--file", str(folder / "Dockerfile"), "--promote", promote]
    start = time.perf_counter()
    result = subprocess.run(args, cwd=REPO_ROOT, env=environ, capture_output=True, text=True,
                            check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"build-push failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    text = outputs.read_text(encoding="utf-8")
    return seconds, text.split("promoted<<", 1)[1].split("\n", 2)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--assets-mb", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    ensure_docker_engine()
    times: dict[str, list[float]] = {"dev build (push to main)": [], "tag: rebuild": [],
                                     "tag: promotion": []}
    with tempfile.TemporaryDirectory(prefix="bench-promote-") as tmp, \
            run_registry(Path(tmp) / "registry") as registry:
        for i in range(args.rounds):
            folder = Path(tmp) / f"app-{i}"
            make_app(folder, args.assets_mb)
            image, sha = f"bench/promote-{secrets.token_hex(4)}", secrets.token_hex(20)
            seconds, _ = build_push(registry, folder, image, "refs/heads/main", sha, "auto")
            times["dev build (push to main)"].append(seconds)
            order = ("never", "auto") if i % 2 == 0 else ("auto", "never")
            for mode in order:
                seconds, promoted = build_push(registry, folder, image, "refs/tags/v1.2.3", sha,
                                               mode)
                assert promoted == ("true" if mode == "auto" else "false"), (mode, promoted)
                times["tag: promotion" if mode == "auto" else "tag: rebuild"].append(seconds)
            print("  " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    table = {k: summary(v) for k, v in times.items()}
    rebuild = table["tag: rebuild"]["p50"]
    print(f"{'build-push (2 platforms)':<26} | {'p50':>7} {'min':>7} {'max':>7} | vs rebuild")
    for k, t in table.items():
        ratio = ("baseline" if k == "tag: rebuild" else "-" if k.startswith("dev") else
                 f"{rebuild / t['p50']:.1f}x faster")
        print(f"{k:<26} | {t['p50']:>6.2f}s {t['min']:>6.2f}s {t['max']:>6.2f}s | {ratio}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "assets_mb": args.assets_mb,
                                         "runs": times, "table": table}, indent=2))


if __name__ == "__main__":
    main()
