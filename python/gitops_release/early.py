"""The first thing ``python -m gitops_release image-update|cronjob-update`` does: start the
"before" render of the overlay, before the command line parser and the receiver load.

The render proof's two ``kustomize build`` runs are a deploy's critical path, and the Python
process spends ~0.1 s loading its modules before it could copy the overlay's files and start one.
So ``kustomize build`` starts here on the overlay in the checkout itself, and the rest of the
process loads while it runs. It is a guess and nothing more:

- Only the three inputs that locate the overlay are read (``path``, ``config-root``,
  ``write-mode``: the flag, else its environment variable, else the default), the way
  ``inputs.resolve`` reads them; the path is checked as the receiver checks it (``paths``).
- The render is used only as the render of the tree discovery then finds (``render.Scratch``):
  the same command, no Helm charts, and every file and folder of that tree unchanged since before
  the render started (``unchanged``: no modification time at or after the start, less a margin for
  the file system's coarse clock). Otherwise, or when the render fails, the deploy renders its own
  scratch copy as before, so a wrong guess costs one render, never a wrong proof.
- Without ``--enable-helm`` kustomize writes nothing; every render left unused is stopped when the
  deploy ends (``stop``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

COMMANDS = ("image-update", "cronjob-update")
# The defaults of the receiver inputs read here (tests/unit/test_early.py holds them equal to
# receiverspec's): importing the input specs would load what this module exists to get ahead of.
DEFAULTS = {"path": "", "config-root": ".", "write-mode": "push"}
GO_MEMORY_LIMIT = "1GiB"
LOADAVG = "/proc/loadavg"  # its 4th field: runnable tasks now / all tasks
CLOCK_MARGIN_NS = 20_000_000  # a file's modification time may lag the clock by a tick (4 ms at 250 Hz)


def kustomize_command() -> list[str] | None:
    """``kustomize build`` (fast), else ``kubectl kustomize``; None when neither is on PATH."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render_env() -> dict[str, str]:
    """The environment of a render: the process's, without the receiver's own inputs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITOPS_RELEASE_")}
    if "GOGC" not in env and "GOMEMLIMIT" not in env:
        # A render is a short-lived Go process: without garbage collection up to a memory
        # limit it takes half the CPU (kustomize's OpenAPI schema load dominates a render
        # with a strategic-merge patch); past the limit the collector runs as usual.
        env.update(GOGC="off", GOMEMLIMIT=GO_MEMORY_LIMIT)
    return env


class Early:
    """A render started on the checkout: the overlay (repo-relative), the command, the process
    and the wall-clock time just before it started."""

    def __init__(self, root: str, overlay: str, command: list[str],
                 proc: subprocess.Popen[str], started_ns: int) -> None:
        self.root, self.overlay, self.command, self.proc, self.started_ns = \
            root, overlay, command, proc, started_ns

    def unchanged(self, files: Iterable[str], folders: Iterable[str]) -> bool:
        """Whether ``files`` (regular files) and ``folders``, relative to the root, were all
        last modified before this render started: then it read what discovery read."""
        limit = self.started_ns - CLOCK_MARGIN_NS
        root = Path(self.root)
        for rel, kind in [(f, "file") for f in files] + [(d, "dir") for d in folders]:
            try:
                info = (root / rel).lstat()
            except OSError:
                return False
            regular = stat.S_ISREG(info.st_mode) if kind == "file" else stat.S_ISDIR(info.st_mode)
            if not regular or info.st_mtime_ns >= limit or info.st_ctime_ns >= limit:
                return False
        return True


STARTED: list[Early] = []
_TRIED: list[bool] = []  # start() looks once per process (python -m, then cli.run)


def overlay_inputs(argv: Sequence[str], environ: Mapping[str, str]) -> dict[str, str] | None:
    """``path``, ``config-root`` and ``write-mode`` of a receiver command line (``argv`` without
    the program name); None for another command."""
    if not argv or argv[0] not in COMMANDS:
        return None
    args = argv[1:]
    values: dict[str, str] = {}
    for name, default in DEFAULTS.items():
        flag, value = "--" + name, ""
        for i, arg in enumerate(args):  # argparse: the last occurrence wins
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "="):
                value = arg[len(flag) + 1:]
        if value == "":
            value = environ.get("GITOPS_RELEASE_" + name.upper().replace("-", "_"), "")
        values[name] = value or default
    return values


def start(argv: Sequence[str], environ: Mapping[str, str] | None = None,
          root: str | None = None) -> None:
    """Start rendering the overlay a receiver command line names, on the checkout in ``root``
    (default: the working directory), in the background. Nothing for another command, a
    pull-request deploy (it renders another branch), inputs that do not name a folder inside the
    repository, or an overlay without a kustomization."""
    if _TRIED:
        return
    _TRIED.append(True)
    raw = overlay_inputs(argv, os.environ if environ is None else environ)
    if raw is None or not raw["path"].strip() or raw["write-mode"].strip() == "pull-request":
        return
    try:
        from gitops_release.paths import resolve_overlay

        base = Path(root) if root is not None else Path.cwd()
        folder = resolve_overlay(base, raw["config-root"].strip(), raw["path"].strip())
        command = kustomize_command()
        if command is None or not any(
                (folder / name).is_file() and not (folder / name).is_symlink()
                for name in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
            return
        if _busy():
            return
        started = time.time_ns()
        proc = subprocess.Popen([*command, str(folder)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                env=render_env())
    except Exception:  # the deploy reads the same inputs and files, and reports
        return
    STARTED.append(Early(str(base), folder.relative_to(base).as_posix(), command, proc, started))
    _arm()


def _arm() -> None:
    """Until the deploy handles signals itself (signals.handled), a SIGTERM or SIGHUP, which
    would end the process at once (no atexit), first stops every render (and removes its
    scratch copy)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not the main thread: nothing to arm
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _ended)


STOPPERS: list[Callable[[], None]] = []  # the renders' own stop (render.py, helmrender.py)


def _ended(signum: int, _frame: object) -> None:
    for stopper in STOPPERS:
        with contextlib.suppress(Exception):
            stopper()
    stop()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # ends the process as the signal would have


def _busy() -> bool:
    """Whether no core is idle now (Linux: more runnable tasks than cores, /proc/loadavg): the
    render started here takes an idle core; without one, as in a wave of receivers on one
    machine, it only adds a process competing with the others, and the deploy renders later
    as before. Measured here: 200 receivers at once 118 s without it, 153 s with it."""
    try:
        running = int(Path(LOADAVG).read_text(encoding="ascii").split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return False
    return running > (os.cpu_count() or 1)


def take(root: str, overlay: str, command: list[str]) -> Early | None:
    """The render started here of ``overlay`` in ``root`` with ``command``, handed over to the
    caller (who then owns the process); None when there is none."""
    for early in STARTED:
        if (early.root, early.overlay, early.command) == (root, overlay, command):
            STARTED.remove(early)
            return early
    return None


def stop() -> None:
    """Stop the renders started here that nothing took."""
    while STARTED:
        proc = STARTED.pop().proc
        proc.kill()
        proc.communicate()


atexit.register(stop)
