"""Races on the config repo: receivers started at once, each in its own clone of one bare origin
(like separate runners), with real pushes. Whatever the order, every deploy lands once, history
stays linear, the newer release stays, and nothing is ever force-pushed: the origin's reflog only
moves forward. Every wait is bounded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.gitrepo import GitRepo, git, make_repo
from tests.harness.outputs import read_outputs
from tests.hostile.conftest import (
    assert_only_fast_forwards,
    record_ref_updates,
    step_files_and_env,
    write_app,
)

APPS = [f"app{i:02d}" for i in range(20)]
TIMEOUT = 300


@dataclass
class Step:
    proc: subprocess.Popen[str]
    output: Path
    stdout: str = ""

    @property
    def outputs(self) -> dict[str, str]:
        return read_outputs(self.output.read_text(encoding="utf-8"))


def clone(repo: GitRepo, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(repo.bare), str(where))
    return where


def start(command: str, inputs: Mapping[str, str], cwd: Path) -> Step:
    files, env = step_files_and_env(cwd.parent / f"{cwd.name}-step", inputs)
    proc = subprocess.Popen([sys.executable, "-m", "gitops_release", command], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return Step(proc, files["output"])


def finish(steps: Sequence[Step]) -> None:
    try:
        for step in steps:
            step.stdout = step.proc.communicate(timeout=TIMEOUT)[0]
    finally:
        for step in steps:
            if step.proc.poll() is None:
                step.proc.kill()
                step.proc.wait()


def deploy_inputs(app: str, version: str, max_attempts: int = 20) -> dict[str, str]:
    return {"image": f"registry.example.com/{app}:{version}", "release": f"{app}@{version}",
            "path": f"apps/{app}/overlays/dev", "max-attempts": str(max_attempts)}


@pytest.fixture
def twenty_apps(tmp_path: Path) -> GitRepo:
    template = tmp_path / "template"
    for app in APPS:
        write_app(template, app, overlays=("dev",))
    return make_repo(tmp_path / "repos", "acme", "k8s-configurations", template)


def test_twenty_receivers_at_once_all_land_in_a_linear_history(twenty_apps: GitRepo,
                                                               tmp_path: Path) -> None:
    repo = twenty_apps
    since = record_ref_updates(repo)
    runners = [clone(repo, tmp_path / f"runner-{app}") for app in APPS]

    steps = [start("image-update", deploy_inputs(app, "v2.0.0"), runner)
             for app, runner in zip(APPS, runners, strict=True)]
    finish(steps)

    assert [s.proc.returncode for s in steps] == [0] * 20, [s.stdout for s in steps if
                                                            s.proc.returncode]
    log = repo.origin_log()
    assert len(log) == 21
    assert sorted(log[:-1]) == [f"Deploy {app}@v2.0.0" for app in APPS]
    assert repo.origin_git("rev-list", "--merges", "main") == ""
    for app, step in zip(APPS, steps, strict=True):
        commit = step.outputs["commit"]
        assert repo.origin_git("log", "-1", "--format=%s", commit).strip() == f"Deploy {app}@v2.0.0"
        assert repo.origin_git("show", "--format=", "--name-only", commit).split() == [
            f"apps/{app}/overlays/dev/deployment.yaml"]
        text = repo.origin_show(f"apps/{app}/overlays/dev/deployment.yaml")
        assert f"image: registry.example.com/{app}:v2.0.0" in text
        assert f"value: {app}@v2.0.0" in text
    # each ref update a fast-forward of the one before; group commit lets one push carry several
    # deploys, so there are at most 20 updates, and no pending deploy is left behind
    assert 2 <= len(assert_only_fast_forwards(repo, since)) <= 21
    assert repo.origin_git("for-each-ref", "refs/gitops-release/pending/") == ""


def test_two_releases_delivered_in_reverse_order_keep_the_newer(config_repo: GitRepo,
                                                                tmp_path: Path) -> None:
    since = record_ref_updates(config_repo)
    newer_runner = clone(config_repo, tmp_path / "runner-newer")
    older_runner = clone(config_repo, tmp_path / "runner-older")  # cloned before the newer landed

    newer = start("image-update", deploy_inputs("web", "v1.2.0"), newer_runner)
    finish([newer])
    older = start("image-update", deploy_inputs("web", "v1.1.0"), older_runner)
    finish([older])

    assert newer.proc.returncode == 0, newer.stdout
    assert older.proc.returncode == 0, older.stdout
    assert older.outputs["refused"] == "true"
    assert older.outputs["commit"] == ""
    assert "is older than v1.2.0" in older.stdout
    assert config_repo.origin_log() == ["Deploy web@v1.2.0", "Add symlinks", "Initial commit"]
    text = config_repo.origin_show("apps/web/overlays/dev/deployment.yaml")
    assert "image: registry.example.com/web:v1.2.0" in text and "value: web@v1.2.0" in text
    assert_only_fast_forwards(config_repo, since)


def test_two_releases_at_once_end_on_the_newer(config_repo: GitRepo, tmp_path: Path) -> None:
    since = record_ref_updates(config_repo)
    runners = [clone(config_repo, tmp_path / f"runner-{n}") for n in ("older", "newer")]

    steps = [start("image-update", deploy_inputs("web", version), runner)
             for version, runner in zip(("v1.1.0", "v1.2.0"), runners, strict=True)]
    finish(steps)

    assert [s.proc.returncode for s in steps] == [0, 0], [s.stdout for s in steps]
    log = config_repo.origin_log()
    # Whichever landed first: the older then the newer on top, or the newer and a refused older.
    assert log[0] == "Deploy web@v1.2.0"
    assert log[1:] in (["Deploy web@v1.1.0", "Add symlinks", "Initial commit"],
                       ["Add symlinks", "Initial commit"])
    assert (steps[0].outputs["refused"] == "true") == (len(log) == 3)
    assert "web:v1.2.0" in config_repo.origin_show("apps/web/overlays/dev/deployment.yaml")
    assert config_repo.origin_git("rev-list", "--merges", "main") == ""
    assert_only_fast_forwards(config_repo, since)


def test_the_same_event_three_times_at_once_gives_one_commit(config_repo: GitRepo,
                                                             tmp_path: Path) -> None:
    since = record_ref_updates(config_repo)
    runners = [clone(config_repo, tmp_path / f"runner-{n}") for n in range(3)]

    steps = [start("image-update", deploy_inputs("web", "v1.1.0"), runner) for runner in runners]
    finish(steps)

    assert [s.proc.returncode for s in steps] == [0, 0, 0], [s.stdout for s in steps]
    assert config_repo.origin_log() == ["Deploy web@v1.1.0", "Add symlinks", "Initial commit"]
    winners = [s for s in steps if s.outputs["changed"] == "true"]
    losers = [s for s in steps if s.outputs["changed"] == "false"]
    assert winners and len(winners) + len(losers) == 3
    # Runs that commit in the same second build the same commit object (same tree, parent,
    # message, author and time): pushing it again is a no-op, so it still is one commit.
    assert {s.outputs["commit"] for s in winners} == {config_repo.origin_head()}
    for loser in losers:
        assert loser.outputs["commit"] == ""
        assert "nothing to change: the overlay already runs this image and release" in loser.stdout
    assert len(assert_only_fast_forwards(config_repo, since)) == 2


def _always_race(runner: Path, competitor: Path, count: Path) -> None:
    """A pre-push hook on the runner's clone: just before each push, a competing writer pushes
    a commit of its own to the same branch (a real second pusher, not a fake answer)."""
    hook = runner / ".git" / "hooks" / "pre-push"
    hook.write_text(f"""#!/bin/sh
echo x >> {count}
cd {competitor} && git pull -q --ff-only origin main && \\
  echo "$(date +%s%N)" > other.txt && git add other.txt && \\
  git -c user.name=o -c user.email=o@example.com commit -qm 'Other deploy' && \\
  git push -q origin HEAD:main
""", encoding="utf-8")
    hook.chmod(0o755)


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_contention_beyond_the_retry_budget_fails_and_forces_nothing(
        config_repo: GitRepo, tmp_path: Path, max_attempts: int) -> None:
    since = record_ref_updates(config_repo)
    runner = clone(config_repo, tmp_path / "runner")
    competitor = clone(config_repo, tmp_path / "competitor")
    count = tmp_path / "pushes"
    _always_race(runner, competitor, count)

    start_head = git(runner, "rev-parse", "HEAD").strip()
    # the plain retry loop (group commit off): bounded by max-attempts
    step = start("image-update", {**deploy_inputs("web", "v1.1.0", max_attempts),
                                  "group-commit": "false"}, runner)
    finish([step])

    assert step.proc.returncode == 1, step.stdout
    assert len(count.read_text().splitlines()) == max_attempts
    assert step.stdout.count("lost a race with another push") == max_attempts
    assert (f"input 'max-attempts': the push to origin/main lost the race {max_attempts} times. "
            "Raise max-attempts") in step.stdout
    assert step.output.read_text() == ""
    log = config_repo.origin_log()
    assert log == ["Other deploy"] * max_attempts + ["Add symlinks", "Initial commit"]
    assert "Deploy" not in " ".join(log)
    assert len(assert_only_fast_forwards(config_repo, since)) == max_attempts + 1
    # the runner's clone is restored to where it started, with nothing uncommitted
    assert git(runner, "status", "--porcelain") == ""
    assert git(runner, "rev-parse", "HEAD").strip() == start_head
