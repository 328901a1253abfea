"""The ``gitops-release`` command line: one subcommand per action, flags named like the inputs.

The composite actions call the same entrypoint, passing their inputs through environment
variables (``GITOPS_RELEASE_<INPUT>``), so a step on a runner and a command on a laptop run the
same code. Off a runner the output is plain text (see runner.py) and other CIs' variables stand in
for GitHub's (see ci.py).

Exit codes: 0 done, nothing to do, or refused (a downgrade, a hold: a refusal is a success);
1 an error, reported with what to fix; 2 a usage error (an unknown flag or command).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol, TextIO, cast

from gitops_release import __version__
from gitops_release.ci import effective_environ
from gitops_release.errors import DeployInterrupted, GitopsReleaseError, ResourceError
from gitops_release.inputs import CommandSpec, InputSpec, resolve
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
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
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
        cmd = sub.add_parser(name, help=spec.help, description=spec.help, epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        for item in spec.inputs:
            _add_flag(cmd, item)
    return parser


EPILOG = """\
Each flag can also be given as its environment variable (GITOPS_RELEASE_<NAME>); a flag marked
(required) must be given one way or the other. A boolean flag alone means true (--dry-run);
it also takes a value (--dry-run false).

exit codes:
  0  done, nothing to do, or refused (a downgrade or a hold is not an error)
  1  error: the message says what is wrong and how to fix it
  2  usage error: unknown command or flag"""


def _add_flag(cmd: argparse.ArgumentParser, item: InputSpec) -> None:
    required = "(required) " if item.required else ""
    default = f" (default: {item.default!r})" if item.default else ""
    help_text = f"{required}{item.description}{default}; env {item.env}"
    metavar = item.name.upper().replace("-", "_")
    if item.default in ("true", "false"):  # a boolean input: `--flag` alone is true
        cmd.add_argument(item.flag, dest=item.name, metavar="BOOL", nargs="?", const="true",
                         help=help_text)
        return
    cmd.add_argument(item.flag, dest=item.name, metavar=metavar, help=help_text)


def _chosen(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def main(argv: Sequence[str], environ: Mapping[str, str], stdout: TextIO | None = None) -> int:
    out = stdout if stdout is not None else sys.stdout
    environ = effective_environ(environ)
    runner = Runner(environ, out)
    parser = build_parser(_chosen(argv))
    try:
        args = vars(parser.parse_args(list(argv)))
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
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
        import traceback

        runner.info("".join(traceback.format_exception(cause)))


def run() -> None:
    from gitops_release import early

    early.start(sys.argv[1:])  # a no-op when python -m gitops_release started it already
    sys.exit(main(sys.argv[1:], os.environ))
