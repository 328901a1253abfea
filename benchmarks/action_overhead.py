"""Benchmark 1: a composite action's overhead, from step start to the entrypoint doing work.

Each action's step runs `scripts/action-run <command> <extra>`. Cold: no venv yet (the first step
of a job). The installer's cache is warm: one unmeasured cold run per action fills it first, so
the cold time is venv creation + installing the locked wheels from the cache (pip still asks the
package index; uv does not when its cache holds the pinned files; a hosted runner starts with an
empty cache and downloads the wheels too). Warm: the venv an earlier step of the job made. The entrypoint is
given an input it rejects at once, so the time is bootstrap + interpreter start + imports +
input parsing, and nothing else. Baseline in the same run: `python3 -c pass` (the floor any Python
step pays). Also the import time of image-update's code path (`python -X importtime`), including
the libraries it loads to edit a manifest.

The dependencies come from the hash-locked requirements/<extra>.txt. `--installer uv` puts the
uv binary (found beside this Python, or on PATH) alone on the step's PATH, as a runner image or an
earlier setup step would; `--installer pip` leaves it off, so the bootstrap falls back to the base
interpreter's pip. The install cache (uv's or pip's) is warm in both cases.

Usage: python -m benchmarks.action_overhead [--runs 5] [--installer uv|pip] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.lib import REPO_ROOT, machine, summary

ACTIONS = {
    "image-update": ("image-update", {"IMAGE": "bad image", "RELEASE": "a@1", "PATH": "p"}),
    "cronjob-update": ("cronjob-update", {"IMAGE": "bad image", "RELEASE": "a@1", "PATH": "p"}),
    "build-push": ("build-push", {"IMAGE_NAME": "Bad Name", "REGISTRY": "127.0.0.1:1"}),
    "dispatch": ("dispatch", {"TOKEN": "x", "REPOSITORY": "a/b", "IMAGE": "bad image",
                              "RELEASE": "a@1", "PATH": "p"}),
}
# What image-update's execution imports: the CLI, its command, and the manifest editing code.
IMAGE_UPDATE_IMPORTS = ("import gitops_release.cli, gitops_release.commands.image_update, "
                        "ruamel.yaml, semver")


INSTALLED = re.compile(r"installed in (\d+) ms")
UV_DIR: Path | None = None  # a folder holding only a `uv` link, put on PATH with --installer uv


def run_step(command: str, extra: str, inputs: dict[str, str], venv_root: Path,
             installs: list[float] | None = None) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_RELEASE_", "GITHUB_"))}
    env["GITOPS_RELEASE_VENV_ROOT"] = str(venv_root)
    # A runner's step sees the system python3 (with pip), not the venv this benchmark runs in.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not p.startswith(sys.prefix))
    if UV_DIR is not None:
        env["PATH"] = f"{UV_DIR}{os.pathsep}{env['PATH']}"
    env["GITOPS_RELEASE_INSTALLER"] = "uv" if UV_DIR is not None else "pip"
    env["GITHUB_ACTIONS"] = "true"  # as on a runner: the step prints workflow commands
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a runner does not set it; bytecode caches count
    env.update({f"GITOPS_RELEASE_{k}": v for k, v in inputs.items()})
    start = time.perf_counter()
    result = subprocess.run([str(REPO_ROOT / "scripts" / "action-run"), command, extra], env=env,
                            capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if "::error" not in result.stdout:
        raise RuntimeError(f"{command}: the entrypoint did not run:\n{result.stdout}\n{result.stderr}")
    found = INSTALLED.search(result.stdout)
    if installs is not None and found:
        installs.append(int(found.group(1)) / 1000)
    return seconds


def import_time_ms(python: str) -> float:
    result = subprocess.run([python, "-X", "importtime", "-c", IMAGE_UPDATE_IMPORTS],
                            env={**{k: v for k, v in os.environ.items()
                                    if k != "PYTHONDONTWRITEBYTECODE"},
                                 "PYTHONPATH": str(REPO_ROOT / "python")},
                            capture_output=True, text=True, check=True)
    total = 0
    for line in result.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(2)) == 1:  # top-level imports only: their cumulative time
            total += int(m.group(1))
    return total / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--installer", choices=("uv", "pip"), default="uv")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.installer == "uv":
        global UV_DIR
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv is None:
            raise SystemExit("no uv beside this Python or on PATH: run ./scripts/setup")
        UV_DIR = Path(tempfile.mkdtemp(prefix="bench-uv-"))
        (UV_DIR / "uv").symlink_to(uv)
    print(f"machine: {machine()}; installer: {args.installer}")
    floor = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(["python3", "-c", "pass"], check=True)
        floor.append(time.perf_counter() - start)
    print(f"baseline python3 -c pass: p50 {summary(floor)['p50'] * 1000:.0f} ms")
    rows = []
    print(f"{'action':<15} | {'cold p50':>9} {'max':>7} {'(pip)':>7} | {'warm p50':>9} {'max':>7}")
    for name, (extra, inputs) in ACTIONS.items():
        cold: list[float] = []
        warm: list[float] = []
        installs: list[float] = []
        with tempfile.TemporaryDirectory(prefix="bench-venv-") as tmp:
            run_step(name, extra, inputs, Path(tmp))  # fills the installer's cache; not measured
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-venv-") as tmp:
                cold.append(run_step(name, extra, inputs, Path(tmp), installs))
                for _ in range(2):
                    warm.append(run_step(name, extra, inputs, Path(tmp)))
        c, w, i = summary(cold), summary(warm), summary(installs or [0.0])
        rows.append({"action": name, "cold": c, "warm": w, "install": i})
        print(f"{name:<15} | {c['p50']:>8.2f}s {c['max']:>6.2f}s {i['p50']:>6.2f}s | "
              f"{w['p50']:>8.3f}s {w['max']:>6.3f}s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-venv-") as tmp:
        run_step("image-update", "image-update", ACTIONS["image-update"][1], Path(tmp))
        python = str(next(Path(tmp).glob("gitops-release-*")) / "bin" / "python")
        imports = sorted(import_time_ms(python) for _ in range(args.runs))
    print(f"image-update import time (cli + command + ruamel.yaml + semver): "
          f"p50 {imports[len(imports) // 2]:.0f} ms, min {imports[0]:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "installer": args.installer,
                                         "floor": summary(floor),
                                         "rows": rows, "image_update_import_ms": imports}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
