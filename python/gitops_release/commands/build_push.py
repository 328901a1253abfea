"""`gitops-release build-push`: not built yet; it fails loudly rather than pretending to work."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_release.commands import NotImplementedYetError
from gitops_release.inputs import CommandSpec
from gitops_release.runner import Runner

SPEC = CommandSpec(name="build-push", help="(not implemented yet)", inputs=())


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    raise NotImplementedYetError("build-push is not implemented yet")
