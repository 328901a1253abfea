"""Fixtures of the hostile-input suite: a small real config repo with a bare origin, a way to run
the CLI as a runner step would, and a byte-level snapshot of everything a run must leave alone."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.services import REPO_ROOT

DEPLOYMENT = """\
# The web app. Owned by team-web.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: sidecar
          image: registry.example.com/proxy:1.0.0
        - name: web
          image: registry.example.com/web:v1.0.0  # bumped by gitops-release
          env:
            - name: LOG_LEVEL
              value: info
            - name: APP_RELEASEVERSION
              value: web@v1.0.0
"""
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
patches:
  - path: deployment.yaml
"""

# The workflow commands our CLI may print itself; anything else starting a line is a leak.
OWN_COMMAND = re.compile(r"^::(error|warning|notice|debug|group|endgroup|add-mask)( [^:\n]*)?::")


def write_app(root: Path, app: str, overlays: tuple[str, ...] = ("dev", "prod", "prod-eu")) -> None:
    base = root / "apps" / app / "base"
    base.mkdir(parents=True, exist_ok=True)
    (base / "deployment.yaml").write_text(DEPLOYMENT.replace("web", app), encoding="utf-8")
    (base / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - deployment.yaml\n", encoding="utf-8")
    for overlay in overlays:
        folder = root / "apps" / app / "overlays" / overlay
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "deployment.yaml").write_text(DEPLOYMENT.replace("web", app), encoding="utf-8")
        (folder / "kustomization.yaml").write_text(KUSTOMIZATION, encoding="utf-8")


@pytest.fixture
def config_repo(tmp_path: Path) -> GitRepo:
    template = tmp_path / "template"
    write_app(template, "web")
    write_app(template, "web-evil")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "deployment.yaml").write_text(DEPLOYMENT, encoding="utf-8")
    repo = make_repo(tmp_path / "repos", "acme", "k8s-configurations", template)
    # Symlinks committed into the repo: a folder and a file pointing outside, one pointing inside.
    links = repo.work / "apps" / "links" / "overlays"
    links.mkdir(parents=True)
    (links / "dev").symlink_to(outside, target_is_directory=True)
    (links / "prod").mkdir()
    (links / "prod" / "deployment.yaml").symlink_to(outside / "deployment.yaml")
    (links / "inside").symlink_to(repo.work / "apps" / "web" / "overlays" / "dev",
                                  target_is_directory=True)
    repo.commit_all("Add symlinks")
    repo.push()
    return repo


@dataclass(frozen=True)
class Snapshot:
    """Every byte a failed run must leave alone: the work tree (without .git), HEAD and its
    status, and every file of the bare origin."""

    files: Mapping[str, str]

    @classmethod
    def of(cls, repo: GitRepo) -> Snapshot:
        files: dict[str, str] = {}
        for root, skip_git in ((repo.work, True), (repo.bare, False)):
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if skip_git and rel.parts[:1] == (".git",):
                    continue
                if path.is_symlink():
                    files[str(path)] = "link:" + str(path.readlink())
                elif path.is_file():
                    files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        files["HEAD"] = repo.git("rev-parse", "HEAD")
        files["status"] = repo.git("status", "--porcelain", "--untracked-files=all")
        return cls(files)


@dataclass
class StepResult:
    returncode: int
    stdout: str
    stderr: str
    output_file: str
    summary_file: str
    env_file: str


def step_files_and_env(prefix: Path, inputs: Mapping[str, str],
                       extra_env: Mapping[str, str] | None = None) -> tuple[dict[str, Path],
                                                                            dict[str, str]]:
    """Empty GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV files named ``<prefix>-<name>`` and
    the environment of a composite step with these inputs."""
    files = {name: Path(f"{prefix}-{name}") for name in ("output", "summary", "env")}
    for f in files.values():
        f.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITOPS_RELEASE_", "GITHUB_", "GIT_"))}
    env.update({
        "PYTHONPATH": str(REPO_ROOT / "python"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_ENV": str(files["env"]),
        **(extra_env or {}),
    })
    for name, value in inputs.items():
        env["GITOPS_RELEASE_" + name.upper().replace("-", "_")] = value
    return files, env


def record_ref_updates(repo: GitRepo) -> str:
    """Make the bare origin keep a reflog, so that every update a push makes can be checked;
    returns the branch's value now."""
    repo.origin_git("config", "core.logAllRefUpdates", "always")
    return repo.origin_head()


def assert_only_fast_forwards(repo: GitRepo, since: str, branch: str = "main") -> list[str]:
    """``since`` and every value the origin's branch took after it (its reflog, oldest first):
    each is an ancestor of the next, so nothing was ever force-pushed. Returns those values."""
    log = repo.origin_git("reflog", "show", "--format=%H", branch, check=False).split()
    values = [since, *log[::-1]]
    for older, newer in itertools.pairwise(values):
        code = subprocess.run(["git", "merge-base", "--is-ancestor", older, newer],
                              cwd=repo.bare, capture_output=True, check=False).returncode
        assert code == 0, f"{branch} moved from {older} to {newer}, which does not contain it"
    assert values[-1] == repo.origin_head(branch)
    return values


@pytest.fixture
def run_step(tmp_path: Path) -> Callable[..., StepResult]:
    """Run `gitops-release <command>` the way a composite step does: inputs in GITOPS_RELEASE_*
    env vars, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV files."""
    counter = iter(range(10_000))

    def run(command: str, inputs: Mapping[str, str], cwd: Path,
            extra_env: Mapping[str, str] | None = None) -> StepResult:
        files, env = step_files_and_env(tmp_path / f"step-{next(counter)}", inputs, extra_env)
        if any("\x00" in value for value in inputs.values()):
            # No process can receive a NUL in its environment: run the entrypoint in-process.
            code, out = _in_process(command, env, cwd)
            proc = subprocess.CompletedProcess([], code, out, "")
        else:
            proc = subprocess.run([sys.executable, "-m", "gitops_release", command], cwd=cwd,
                                  env=env, capture_output=True, text=True, check=False, timeout=60)
        return StepResult(proc.returncode, proc.stdout, proc.stderr,
                          files["output"].read_text(encoding="utf-8"),
                          files["summary"].read_text(encoding="utf-8"),
                          files["env"].read_text(encoding="utf-8"))

    return run


def _in_process(command: str, env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    from gitops_release.cli import main

    out = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        code = main([command], env, out)
    finally:
        os.chdir(previous)
    return code, out.getvalue()


def assert_no_workflow_command_leak(stdout: str) -> None:
    for line in stdout.splitlines():
        if line.lstrip().startswith("::"):
            assert line.startswith("::") and OWN_COMMAND.match(line), f"leaked command: {line!r}"
