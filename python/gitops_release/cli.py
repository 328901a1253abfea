"""The ``gitops-release`` command line: one subcommand per action, flags named like the inputs.

The composite actions call the same entrypoint, passing their inputs through environment
variables (``GITOPS_RELEASE_<INPUT>``), so a step on a runner and a command on a laptop run the
same code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol, TextIO, cast

from gitops_release import __version__
from gitops_release.errors import GitopsReleaseError
from gitops_release.inputs import CommandSpec, resolve
from gitops_release.runner import Runner, md_escape

# subcommand → module under gitops_release.commands; each defines SPEC and execute().
COMMANDS: dict[str, str] = {
    "build-push": "build_push",
    "dispatch": "dispatch",
    "image-update": "image_update",
    "cronjob-update": "cronjob_update",
    "hold": "hold",
    "unhold": "unhold",
    "rollback": "rollback",
    "promote": "promote",
}


class CommandModule(Protocol):
    SPEC: CommandSpec

    def execute(self, raw: Mapping[str, str], runner: Runner,
                environ: Mapping[str, str]) -> None: ...


def load_command(name: str) -> CommandModule:
    return cast(CommandModule, importlib.import_module(f"gitops_release.commands.{COMMANDS[name]}"))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-release",
        description="Build and push images, dispatch them to a config repo, update overlays; hold, "
        "unhold and roll back overlays of the config repo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if command is not None and name != command:
            # Only the chosen subcommand's module is imported: image-update never loads the
            # modules (and their imports) of the others.
            sub.add_parser(name)
            continue
        spec = load_command(name).SPEC
        cmd = sub.add_parser(name, help=spec.help, description=spec.help)
        for item in spec.inputs:
            default = f" (default: {item.default!r})" if item.default else ""
            env = f"; env {item.env}"
            cmd.add_argument(item.flag, dest=item.name, metavar=item.name.upper().replace("-", "_"),
                             help=f"{item.description}{default}{env}")
    return parser


def _chosen(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def main(argv: Sequence[str], environ: Mapping[str, str], stdout: TextIO | None = None) -> int:
    out = stdout if stdout is not None else sys.stdout
    runner = Runner(environ, out)
    parser = build_parser(_chosen(argv))
    args = vars(parser.parse_args(list(argv)))
    name = args.pop("command")
    module = load_command(name)
    try:
        raw = resolve(module.SPEC, args, environ)
        module.execute(raw, runner, environ)
    except GitopsReleaseError as exc:
        runner.error(str(exc), title=f"{name}: {exc.title}")
        runner.summary(f"### :x: {name} failed\n\n{exc.title}: {md_escape(str(exc))}\n")
        return 1
    return 0


def run() -> None:
    sys.exit(main(sys.argv[1:], os.environ))
