"""Shared by the config-repo commands ``hold``, ``unhold`` and ``rollback``: their common inputs,
who acts, and an edit of the policy file committed and pushed with the receiver's push loop
(fetch → reset → re-apply → commit → push, never force)."""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_release.errors import InputError
from gitops_release.gitops import Author, Git, push_loop
from gitops_release.inputs import InputSpec, check_text, parse_bool, parse_int
from gitops_release.paths import check_relative
from gitops_release.policy import POLICY_FILE, Policy
from gitops_release.policyfile import parse_policy, read_policy_text
from gitops_release.receiverspec import BOT_EMAIL, BOT_NAME
from gitops_release.runner import Runner

MAX_REASON = 500


def control_inputs() -> tuple[InputSpec, ...]:
    """The inputs every config-repo command has (same names and defaults as the receiver's)."""
    return (
        InputSpec("by", "Who acts, recorded in the hold and the commit; default: $GITHUB_ACTOR, "
                  "else git config user.name"),
        InputSpec("push", "Push the commit (false: commit locally only)", default="true"),
        InputSpec("dry-run", "Print the change; write, commit and push nothing", default="false"),
        InputSpec("max-attempts", "Push attempts when racing other pushes (1-20)", default="10"),
        InputSpec("token", "Token for fetch and push over HTTPS (never stored in .git/config)",
                  secret=True),
        InputSpec("git-user-name", "Commit author and committer name", default=BOT_NAME),
        InputSpec("git-user-email", "Commit author and committer email", default=BOT_EMAIL),
    )


@dataclass(frozen=True)
class ControlSettings:
    by: str
    push: bool
    dry_run: bool
    max_attempts: int
    token: str
    author: Author


def one_line(name: str, value: str, *, required: bool = True) -> str:
    text = check_text(name, value.strip(), max_length=MAX_REASON)
    if required and not text:
        raise InputError("is required and was not given", input_name=name)
    return text


def parse_control(raw: Mapping[str, str], environ: Mapping[str, str], root: Path) -> ControlSettings:
    token = raw["token"].strip()
    check_text("token", token, max_length=1024)
    by = raw["by"].strip() or environ.get("GITHUB_ACTOR", "").strip()
    if not by:
        by = Git(root, environ).run("config", "user.name", check=False).stdout.strip()
    if not by:
        raise InputError("is not given, GITHUB_ACTOR is not set and git has no user.name",
                         input_name="by", hint="Pass --by with your name")
    return ControlSettings(
        by=one_line("by", by), push=parse_bool("push", raw["push"]),
        dry_run=parse_bool("dry-run", raw["dry-run"]),
        max_attempts=parse_int("max-attempts", raw["max-attempts"], minimum=1, maximum=20),
        token=token,
        author=Author(check_text("git-user-name", raw["git-user-name"], max_length=200),
                      check_text("git-user-email", raw["git-user-email"], max_length=200)))


def read_policy(root: Path) -> tuple[str | None, Policy]:
    text = read_policy_text(root)
    return text, (parse_policy(text, POLICY_FILE) if text is not None else Policy())


def write_text(path: Path, text: str) -> None:
    """Atomic: a temp file next to it, renamed into place."""
    from gitops_release.transaction import temp_prefix

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix())
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        temp.chmod(path.stat().st_mode & 0o777 if path.exists() else 0o644)
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def diff(old: str | None, new: str) -> str:
    lines = difflib.unified_diff((old or "").splitlines(keepends=True),
                                 new.splitlines(keepends=True),
                                 f"a/{POLICY_FILE}" if old is not None else "/dev/null",
                                 f"b/{POLICY_FILE}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def message(subject: str, trailers: list[tuple[str, str]]) -> str:
    return subject + "\n\n" + "".join(f"{key}: {value}\n" for key, value in trailers)


def hold_outputs(what: str) -> dict[str, str]:
    """The outputs of hold and unhold."""
    return {"changed": f"'true' when the hold was {what} (and, unless push is false, pushed).",
            "commit": "The SHA of the commit, empty when none was made."}


def start_hold_command(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str],
                       root: Path | None) -> tuple[Path, str, ControlSettings]:
    """What hold and unhold begin with: the repository root, the checked ``path`` and the
    common settings (the token masked)."""
    root = root or Path.cwd()
    path = raw["path"].strip().rstrip("/")
    check_relative(path, "path")
    s = parse_control(raw, environ, root)
    if s.token:
        runner.mask(s.token)
    return root, path, s


def finish_hold_command(runner: Runner, s: ControlSettings, commit: str, heading: str) -> None:
    """The step summary (``heading`` and where) and the outputs of hold and unhold."""
    runner.summary(f"{heading}, in `{POLICY_FILE}`."
                   + (f" Commit: `{commit}`" if commit else " Dry run: nothing written."
                      if s.dry_run else "") + "\n")
    runner.set_outputs({"changed": "false" if s.dry_run else "true", "commit": commit})


def commit_policy_edit(root: Path, runner: Runner, environ: Mapping[str, str], s: ControlSettings,
                       edit: Callable[[str | None, Policy], str], commit_message: str) -> str:
    """Apply ``edit`` (old text or None, old policy → new text) to the policy file, then commit
    and push it (or only commit, or, in a dry run, only show it). Returns the commit, '' if none.
    ``edit`` runs again after every lost push race, on the file as the remote has it then."""
    git = Git(root, environ, s.token, environ.get("GITHUB_SERVER_URL") or "https://github.com")
    shown: list[str] = []

    def apply() -> list[str] | None:
        text, policy = read_policy(root)
        new_text = edit(text, policy)
        shown[:] = [diff(text, new_text)]
        if new_text == text:
            return None
        if not s.dry_run:
            write_text(root / POLICY_FILE, new_text)
        return [POLICY_FILE]

    commit = ""
    if s.dry_run:
        apply()
    elif s.push:
        up = git.upstream()
        git.ensure_clean()
        outcome = push_loop(git, up, apply, commit_message, s.author, s.max_attempts, runner.info)
        if outcome is not None:
            commit = outcome.commit
            runner.info(f"pushed {commit} to {up.remote}/{up.branch} (attempt {outcome.attempts})")
    else:
        git.ensure_clean()
        files = apply()
        commit = git.commit(commit_message, files, s.author) if files else ""
    if shown and shown[0]:
        with runner.group(f"Diff ({POLICY_FILE})"), runner.verbatim():
            runner.info(shown[0].rstrip("\n"))
    return commit
