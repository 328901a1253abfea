"""Benchmark 5: build cache. A rebuild of an unchanged app against a cold build of the same app.

Each round makes an app no cache has seen (fresh random assets, a new image name), then runs the
build-push command (the code the action runs: tags, login, buildx build of linux/amd64 and
linux/arm64 with the inline cache, push to a registry with auth on 127.0.0.1) three times:
cold (the baseline, same run), then the same app unchanged, then with one small file changed
(what a push to main usually is). Images are `FROM scratch` (nothing can be pulled here): COPY of
``--assets-mb`` of files plus the app file.

Usage: python -m benchmarks.build_cache [--rounds 3] [--assets-mb 32] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.services import Registry, ensure_docker_engine, run_registry

from benchmarks.lib import REPO_ROOT, env, machine, summary

DOCKERFILE = """\
FROM scratch
COPY assets/ /assets/
COPY hello.txt /hello.txt
ARG version=dev
ENV APP_VERSION=${version}
"""


def make_app(folder: Path, assets_mb: int) -> None:
    (folder / "assets").mkdir(parents=True)
    for i in range(assets_mb):
        (folder / "assets" / f"blob-{i:03d}.bin").write_bytes(os.urandom(1 << 20))
    (folder / "hello.txt").write_text("hello\n", encoding="utf-8")
    (folder / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")


def build_push(registry: Registry, folder: Path, image: str, tag: str) -> float:
    environ = {**env(), "GITOPS_RELEASE_PASSWORD": registry.password, "RUNNER_TEMP": str(folder.parent)}
    args = [sys.executable, "-m", "gitops_release", "build-push", "--registry", registry.host,
            "--username", registry.username, "--image-name", image, "--context", str(folder),
            "--file", str(folder / "Dockerfile"), "--tags", f"type=raw,value={tag}"]
    start = time.perf_counter()
    result = subprocess.run(args, cwd=REPO_ROOT, env=environ, capture_output=True, text=True,
                            check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"build-push failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--assets-mb", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    ensure_docker_engine()
    times: dict[str, list[float]] = {"cold": [], "unchanged": [], "one file changed": []}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp, \
            run_registry(Path(tmp) / "registry") as registry:
        for i in range(args.rounds):
            folder = Path(tmp) / f"app-{i}"
            make_app(folder, args.assets_mb)
            image = f"bench/cache-{secrets.token_hex(4)}"
            times["cold"].append(build_push(registry, folder, image, "v1.0.0"))
            times["unchanged"].append(build_push(registry, folder, image, "v1.0.1"))
            (folder / "hello.txt").write_text(f"hello {i}\n", encoding="utf-8")
            times["one file changed"].append(build_push(registry, folder, image, "v1.0.2"))
            print("  " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    table = {k: summary(v) for k, v in times.items()}
    cold = table["cold"]["p50"]
    print(f"{'build-push (2 platforms)':<26} | {'p50':>7} {'min':>7} {'max':>7} | vs cold")
    for k, t in table.items():
        print(f"{k:<26} | {t['p50']:>6.2f}s {t['min']:>6.2f}s {t['max']:>6.2f}s | "
              f"{cold / t['p50']:.1f}x faster" if k != "cold" else
              f"{k:<26} | {t['p50']:>6.2f}s {t['min']:>6.2f}s {t['max']:>6.2f}s | baseline")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "assets_mb": args.assets_mb,
                                         "runs": times, "table": table}, indent=2))


if __name__ == "__main__":
    main()
