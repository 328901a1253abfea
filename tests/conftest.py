"""Session-wide fixtures of the end-to-end harness (see tests/harness/)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.act import Act, snapshot_bundle
from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.services import Registry, ensure_docker_engine, run_registry


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A running Docker engine with buildx (reused if already running)."""
    ensure_docker_engine()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A real registry with htpasswd auth on a free 127.0.0.1 port, for the whole session."""
    with run_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of this checkout, mapped to gitops-release/gitops-release@v1 and @main."""
    return snapshot_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def act(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Act:
    """act in host mode; action venvs are shared across the session's runs."""
    return Act(bundle=bundle, venv_root=tmp_path_factory.mktemp("venvs"))


@pytest.fixture
def make_git_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """Factory: ``make_git_repo(owner, name, template=None)`` → a clone with a bare origin."""

    def factory(owner: str, name: str, template: Path | None = None,
                branch: str = "main") -> GitRepo:
        return make_repo(tmp_path / "repos", owner, name, template, branch)

    return factory


@pytest.fixture
def github_api() -> Iterator[GitHubAPI]:
    """The local GitHub API (repository_dispatch contract) on 127.0.0.1, fresh per test."""
    with GitHubAPI() as server:
        yield server


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kustomize on PATH that logs each call, then runs the real one."""
    real = shutil.which("kustomize")
    assert real is not None
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "calls.log"
    wrapper = folder / "kustomize"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log
