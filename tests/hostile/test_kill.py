"""Kill test: a prod fan-out deploy (prod and prod-eu in one commit) killed with SIGKILL or SIGTERM
at random points, round after round in the same clone. Whatever the moment, the origin only
moves forward and always holds the fan-out whole (both overlays on one version), and a rerun of
the deploy in the same clone succeeds and leaves the clone clean. Seeded, bounded."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.gitrepo import GitRepo
from tests.hostile.conftest import assert_only_fast_forwards, record_ref_updates, step_files_and_env

ROUNDS = 32
SEED = int(os.environ.get("GITOPS_RELEASE_KILL_SEED", "1126"))
OVERLAYS = ("prod", "prod-eu")
IMAGE = re.compile(r"image: registry\.example\.com/web:(\S+)")


def start(repo: GitRepo, version: str, where: Path) -> subprocess.Popen[str]:
    inputs = {"image": f"registry.example.com/web:{version}", "release": f"web@{version}",
              "path": "apps/web/overlays/prod", "container": "web"}
    _, env = step_files_and_env(where, inputs)
    # its own process group: SIGKILL goes to the whole tree, git commands included, as when a
    # runner cancels a job
    return subprocess.Popen([sys.executable, "-m", "gitops_release", "image-update"],
                            cwd=repo.work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def versions_on_origin(repo: GitRepo) -> set[str]:
    found = set()
    for overlay in OVERLAYS:
        text = repo.origin_show(f"apps/web/overlays/{overlay}/deployment.yaml")
        found.update(IMAGE.findall(text))
    return found


def assert_clean(repo: GitRepo) -> None:
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    assert not list(repo.work.rglob(".gitops-release-*"))
    gitdir = repo.work / ".git"
    assert not (gitdir / "index.lock").exists()
    assert not (gitdir / "gitops-release" / "transaction.json").exists()
    assert repo.git("rev-parse", "HEAD") == repo.origin_git("rev-parse", "main")


def test_killed_at_random_points_the_origin_stays_whole_and_a_rerun_succeeds(
        config_repo: GitRepo, tmp_path: Path) -> None:
    repo = config_repo
    rng = random.Random(SEED)  # noqa: S311 - kill timing, not security
    since = record_ref_updates(repo)
    began = time.monotonic()
    proc = start(repo, "v1.1.0", tmp_path / "baseline")
    assert proc.wait(timeout=120) == 0, proc.communicate()[0]
    duration = time.monotonic() - began
    killed = {"SIGKILL": 0, "SIGTERM": 0, "finished first": 0}
    for n in range(ROUNDS):
        version = f"v1.{n + 2}.0"
        sig = signal.SIGKILL if n % 2 else signal.SIGTERM
        proc = start(repo, version, tmp_path / f"round-{n}")
        time.sleep(rng.uniform(0.0, duration * 1.2))
        if proc.poll() is None:
            if sig is signal.SIGKILL:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)  # to the receiver: it lets a running git command finish
            killed[sig.name] += 1
        else:
            killed["finished first"] += 1
        out = proc.communicate(timeout=120)[0]
        context = f"round {n} (seed {SEED}), {sig.name}:\n{out}"
        assert "Traceback" not in out, context
        if sig is signal.SIGTERM and proc.returncode == 128 + signal.SIGTERM:
            assert "Deploy interrupted" in out and "The clone was restored" in out, context
        # the origin only moved forward, and holds the fan-out whole: one version in both
        assert_only_fast_forwards(repo, since)
        assert len(versions_on_origin(repo)) == 1, context
        rerun = start(repo, version, tmp_path / f"rerun-{n}")
        out = rerun.communicate(timeout=120)[0]
        assert rerun.returncode == 0, f"rerun after {context}\n--- rerun:\n{out}"
        assert versions_on_origin(repo) == {version}, out
        assert_clean(repo)
    assert killed["SIGKILL"] + killed["SIGTERM"] >= ROUNDS // 2, killed
    assert repo.origin_git("rev-list", "--merges", "main") == ""
