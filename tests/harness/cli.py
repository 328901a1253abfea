"""Run the gitops-release CLI in process, in a repository's clone, as a runner step would."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from gitops_release.cli import main
from tests.harness.gitrepo import GitRepo
from tests.harness.outputs import read_outputs


def run_cli(repo: GitRepo, tmp_path: Path, argv: Sequence[str]) -> tuple[int, str, dict[str, str]]:
    """(exit code, stdout, GITHUB_OUTPUT as a dict) of ``gitops-release <argv>`` in ``repo``."""
    output = tmp_path / f"output-{os.urandom(4).hex()}"
    output.write_text("")
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
               "GIT_CONFIG_NOSYSTEM": "1", "GITHUB_OUTPUT": str(output)}
    out = io.StringIO()
    cwd = Path.cwd()
    os.chdir(repo.work)
    try:
        code = main(list(argv), environ, out)
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), read_outputs(output.read_text())
