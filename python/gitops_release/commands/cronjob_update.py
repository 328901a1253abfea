"""`gitops-release cronjob-update`: not built yet; it fails loudly rather than pretending to work."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_release.commands import NotImplementedYetError
from gitops_release.inputs import CommandSpec
from gitops_release.runner import Runner

SPEC = CommandSpec(name="cronjob-update", help="(not implemented yet)", inputs=())


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    raise NotImplementedYetError("cronjob-update is not implemented yet")
