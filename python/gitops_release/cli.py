"""The ``gitops-release`` command line: one subcommand per action, flags named like the inputs.

The composite actions call the same entrypoint, passing their inputs through environment
variables (``GITOPS_RELEASE_<INPUT>``), so a step on a runner and a command on a laptop run the
same code.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Protocol, TextIO, cast

from gitops_release import __version__
from gitops_release.errors import DeployInterrupted, GitopsReleaseError, ResourceError
from gitops_release.inputs import CommandSpec, resolve
from gitops_release.runner import Runner, md_escape

# subcommand → module under gitops_release.commands; each defines SPEC and execute().
COMMANDS: dict[str, str] = {
    "build-push": "build_push",
    "dispatch": "dispatch",
    "image-update": "image_update",
    "cronjob-update": "cronjob_update",
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
        description="Build and push images, dispatch them to a config repo, update overlays.",
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
    except DeployInterrupted as exc:
        _fail(runner, name, exc, environ, "the clone was restored and nothing was pushed by "
              "this step; run the job again")
        return 128 + exc.signal_number
    except KeyboardInterrupt:  # SIGINT before a deploy touched anything
        _fail(runner, name, DeployInterrupted("SIGINT stopped the step", signal_number=2),
              environ, "nothing was changed")
        return 130
    except GitopsReleaseError as exc:
        _fail(runner, name, exc, environ)
        return 1
    except Exception as exc:
        error = _unexpected(exc)
        error.__cause__ = exc
        _fail(runner, name, error, environ)
        return 1
    return 0


def _unexpected(exc: Exception) -> GitopsReleaseError:
    """What a failure that is not one of ours means, in words, with the fix."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return ResourceError(f"the disk is full{where}",
                             hint="Free space on the runner and run again; the clone was restored")
    if isinstance(exc, MemoryError):
        return ResourceError("the runner ran out of memory",
                             hint="Use a larger runner, or split the file being edited")
    if isinstance(exc, RecursionError):
        return GitopsReleaseError("a file is nested too deeply to read",
                                  hint="Flatten the YAML (or JSON) the deploy reads")
    if isinstance(exc, UnicodeError):
        return GitopsReleaseError(f"a file is not valid UTF-8 ({exc})",
                                  hint="Save the config repo's YAML files as UTF-8")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return GitopsReleaseError(f"{exc.strerror or exc}{where}",
                                  hint="Check the file's permissions and the runner's disk")
    return GitopsReleaseError(f"internal error: {type(exc).__name__}: {exc}",
                              hint="Run again with RUNNER_DEBUG=1 (or GITOPS_RELEASE_DEBUG=1) "
                              "for the traceback, and report it")


def _fail(runner: Runner, name: str, exc: GitopsReleaseError, environ: Mapping[str, str],
          extra: str = "") -> None:
    text = f"{exc}. {extra[0].upper()}{extra[1:]}" if extra else str(exc)
    runner.error(text, title=f"{name}: {exc.title}")
    runner.summary(f"### :x: {name} failed\n\n{exc.title}: {md_escape(text)}\n")
    if environ.get("RUNNER_DEBUG") == "1" or environ.get("GITOPS_RELEASE_DEBUG") == "1":
        cause = exc.__cause__ or exc.__context__ or exc
        runner.info("".join(traceback.format_exception(cause)))


def run() -> None:
    sys.exit(main(sys.argv[1:], os.environ))
