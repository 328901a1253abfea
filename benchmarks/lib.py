"""Shared pieces of the benchmarks: synthetic config repos on a local bare origin, one deploy by
gitops-release and one by the seed's receiver steps (the baseline), and small statistics.

Run from the repo root with the dev venv (./scripts/bench does both)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OVERLAYS = ("dev", "prod", "prod-eu", "prod-us")
IDENTITY = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}

DEPLOYMENT = """\
# {app} in {overlay}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
spec:
  template:
    spec:
      containers:
        - name: {app}
          image: registry.example.com/{app}:v1.0.0
          env:
            - name: APP_RELEASEVERSION
              value: {app}@v1.0.0
            - name: LOG_LEVEL
              value: info
"""
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
patches:
  - path: deployment.yaml
"""


def env() -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if not k.startswith("GIT")}
    result.update(IDENTITY)
    result["PYTHONPATH"] = str(REPO_ROOT / "python")
    # PYTHONDONTWRITEBYTECODE (set by some shells, never by a runner) would make every deploy
    # recompile the package: not what a deploy costs.
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "PYTHONDONTWRITEBYTECODE"):
        result.pop(key, None)
    return result


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env=env(), capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr}")
    return out.stdout


def make_config_repo(root: Path, apps: int, overlays: Sequence[str] = OVERLAYS,
                     name: str = "origin") -> Path:
    """A bare origin holding ``apps`` apps x ``overlays``; returns the bare repo's path."""
    work = root / f"{name}-seed-work"
    bare = root / f"{name}.git"
    for i in range(apps):
        app = f"app-{i:05d}"
        base = work / "apps" / app / "base"
        base.mkdir(parents=True)
        (base / "deployment.yaml").write_text(DEPLOYMENT.format(app=app, overlay="base"))
        (base / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n  - deployment.yaml\n")
        for overlay in overlays:
            folder = work / "apps" / app / "overlays" / overlay
            folder.mkdir(parents=True)
            (folder / "deployment.yaml").write_text(DEPLOYMENT.format(app=app, overlay=overlay))
            (folder / "kustomization.yaml").write_text(KUSTOMIZATION)
    git(root, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    git(root, "init", "-q", "--initial-branch=main", str(work))
    git(work, "add", "-A")
    git(work, "-c", "gc.auto=0", "commit", "-q", "-m", "seed")
    git(work, "push", "-q", str(bare), "main")
    # Packed, as a hosted origin is; and no background `gc --auto` left running in a temp dir.
    git(bare, "repack", "-adq")
    git(bare, "config", "gc.auto", "0")
    shutil.rmtree(work)
    return bare


def clone(bare: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", "--config", "gc.auto=0", str(bare), str(dest))
    return dest


def ours(workdir: Path, app: str, version: str, overlay: str = "dev",
         extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """One deploy by gitops-release: edit, commit, push (with its fetch/rebase/retry loop)."""
    return subprocess.run(
        [sys.executable, "-m", "gitops_release", "image-update",
         "--image", f"registry.example.com/{app}:{version}", "--release", f"{app}@{version}",
         "--path", f"apps/{app}/overlays/{overlay}", "--fan-out", "false", *extra],
        cwd=workdir, env=env(), capture_output=True, text=True, check=False)


def baseline(workdir: Path, app: str, version: str, overlay: str = "dev",
             pull_push: bool = True) -> subprocess.CompletedProcess[str]:
    """The seed's receiver steps: an in-place edit of the file by a separate process (the seed's
    `yq eval -i`; sed stands in here, which is faster than yq, so the baseline is not
    handicapped), then `git add .`, `git commit`, `git pull --rebase`, `git push`."""
    path = workdir / "apps" / app / "overlays" / overlay / "deployment.yaml"
    script = (
        f"sed -i -e 's#image: .*#image: registry.example.com/{app}:{version}#' "
        f"-e 's#value: {app}@.*#value: {app}@{version}#' '{path}' && "
        f"git add . && git commit -q -m 'Deploy {app}@{version}' && "
        + ("git pull -q --rebase && git push -q" if pull_push else "true")
    )
    return subprocess.run(["bash", "-c", script], cwd=workdir, env=env(), capture_output=True,
                          text=True, check=False)


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def summary(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"min": ordered[0], "p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git_version = git(REPO_ROOT, "--version").strip()
    return (f"{os.cpu_count()} cores, {cpu}; Python {sys.version.split()[0]}; {git_version}; "
            f"Debian {Path('/etc/debian_version').read_text().strip()}")
