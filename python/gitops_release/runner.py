"""All GitHub runner I/O in one place: outputs, step summary, annotations, groups, masks.

It speaks the runner's documented protocol (the same one actions-toolkit writes): outputs go to
the ``GITHUB_OUTPUT`` file as ``name<<delimiter`` heredocs with a random delimiter; workflow
commands go to stdout with their data and properties escaped, so text from an input can never
start a command of its own. Without a runner (``GITHUB_ACTIONS`` is not ``true``: the CLI on a
laptop or in another CI) the output is plain text: ``error: <title>: <message>`` lines, a
``== title ==`` line for a group, no workflow command at all; a secret to mask is never printed
(``::add-mask::`` echoes it in clear where no runner reads it); outputs without ``GITHUB_OUTPUT``
are printed as ``name=value`` lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def escape_data(text: str) -> str:
    """Escape a workflow command's message (``::cmd::message``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``::cmd key=value::``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def neutralize(text: str) -> str:
    """Make untrusted text safe to print in a log line: no line of it can be read as a workflow
    command (``::…``), and control characters are shown escaped."""
    out = []
    for line in text.splitlines() or [""]:
        line = "".join(ch if ch == "\t" or (ch >= " " and ch != "\x7f") else f"\\x{ord(ch):02x}"
                       for ch in line)
        out.append(" " + line if line.lstrip().startswith("::") else line)
    return "\n".join(out)


def md_escape(text: str) -> str:
    """Markdown-safe text for the step summary: no HTML, no link or image syntax."""
    for ch in "\\`*_{}[]<>()#+!|":
        text = text.replace(ch, "\\" + ch)
    return text


class Runner:
    """The runner, as seen from a step: reads where to write from ``environ`` once."""

    def __init__(self, environ: Mapping[str, str], stdout: TextIO) -> None:
        self._output_file = environ.get("GITHUB_OUTPUT") or None
        self._summary_file = environ.get("GITHUB_STEP_SUMMARY") or None
        self._stdout = stdout
        self.on_runner = environ.get("GITHUB_ACTIONS") == "true"

    # -- outputs -----------------------------------------------------------------------------
    def set_output(self, name: str, value: str) -> None:
        if self._output_file is None:
            self.info(f"{name}={neutralize(value)}")
            return
        delimiter = f"ghadelimiter_{os.urandom(16).hex()}"
        while delimiter in value:  # never true in practice; the value must not end the heredoc
            delimiter = f"ghadelimiter_{os.urandom(16).hex()}"
        with Path(self._output_file).open("a", encoding="utf-8", newline="") as f:
            f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        for name, value in outputs.items():
            self.set_output(name, value)

    # -- step summary ------------------------------------------------------------------------
    def summary(self, markdown: str) -> None:
        """Append Markdown to the step summary (ignored without a runner)."""
        if self._summary_file is None:
            return
        with Path(self._summary_file).open("a", encoding="utf-8") as f:
            f.write(markdown.rstrip("\n") + "\n")

    # -- log and annotations -----------------------------------------------------------------
    def _command(self, command: str, message: str, **properties: str) -> None:
        if not self.on_runner:
            self._plain(command, message, properties.get("title", ""))
            return
        props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v)
        head = f"::{command} {props}" if props else f"::{command}"
        self._stdout.write(f"{head}::{escape_data(message)}\n")
        self._stdout.flush()

    def _plain(self, command: str, message: str, title: str) -> None:
        """The text a person reads where no runner interprets workflow commands."""
        if command in ("error", "warning", "notice"):
            head = f"{command}: {title}: " if title else f"{command}: "
            self._stdout.write(neutralize(head + message) + "\n")
        elif command == "group":
            self._stdout.write(f"== {neutralize(message)} ==\n")
        # debug, endgroup, add-mask (never print a secret), stop-commands: nothing to show
        self._stdout.flush()

    def info(self, message: str) -> None:
        self._stdout.write(message + "\n")
        self._stdout.flush()

    def debug(self, message: str) -> None:
        self._command("debug", message)

    def notice(self, message: str, title: str = "") -> None:
        self._command("notice", message, title=title)

    def warning(self, message: str, title: str = "") -> None:
        self._command("warning", message, title=title)

    def error(self, message: str, title: str = "") -> None:
        self._command("error", message, title=title)

    def mask(self, secret: str) -> None:
        """Ask the runner to mask a secret in every later log line (each line of it)."""
        for line in secret.splitlines():
            if line.strip():
                self._command("add-mask", line)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self._command("group", title)
        try:
            yield
        finally:
            self._command("endgroup", "")

    @contextmanager
    def verbatim(self) -> Iterator[None]:
        """Print untrusted text (diffs, server answers) with workflow commands switched off."""
        if not self.on_runner:
            yield
            return
        token = os.urandom(16).hex()
        self._command("stop-commands", token)
        try:
            yield
        finally:
            self._stdout.write(f"::{token}::\n")
            self._stdout.flush()
