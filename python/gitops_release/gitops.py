"""Git for the receiver: commit a deploy and push it to the checked-out branch's upstream.

The push loop never force-pushes. Each attempt starts from the remote branch as it is now (fetch,
``reset --hard``), re-applies the edit to the files as they are there, commits and pushes. A push
that lost a race (non-fast-forward, a ref locked by a concurrent push) is retried after a jittered
back-off, up to ``max_attempts``; any other refusal (a hook, branch protection, missing rights) is
final and reported with the server's own message.

A token, when given, reaches git as an ``http.<server>/.extraheader`` set through
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n`` variables of the git process only: it is never written to
``.git/config`` and never appears on a command line.
"""

from __future__ import annotations

import base64
import random
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_release.errors import (
    GitError,
    PushContentionError,
    PushIncompleteError,
    PushRejectedError,
)

RACE_REASONS = ("fetch first", "non-fast-forward", "cannot lock ref", "failed to lock",
                "failed to update ref", "incorrect old value", "stale info")
# What git says when the remote went away before giving a verdict on the ref (no "!" status line).
DISCONNECT_REASONS = ("hung up unexpectedly", "unexpected disconnect", "early EOF",
                      "does not appear to be a git repository", "Could not resolve host",
                      "Failed to connect", "Connection refused", "Connection timed out",
                      "Connection reset")


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True)
class Upstream:
    """Where a push goes: ``remote`` and ``branch`` (the remote's branch name)."""

    remote: str
    branch: str
    local: str

    @property
    def tracking(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"


class Git:
    """git in one work tree, with an optional token for the server's HTTPS URLs."""

    def __init__(self, cwd: Path, environ: Mapping[str, str], token: str = "",
                 server_url: str = "https://github.com") -> None:
        self.cwd = cwd
        # Inputs (the token among them) are not passed on to git or its hooks.
        env = {k: v for k, v in environ.items()
               if not k.startswith(("GIT_CONFIG_", "GITOPS_RELEASE_"))}
        env["GIT_TERMINAL_PROMPT"] = "0"
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update({"GIT_CONFIG_COUNT": "1",
                        "GIT_CONFIG_KEY_0": f"http.{server_url.rstrip('/')}/.extraheader",
                        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"})
        self.env = env

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["git", *args], cwd=self.cwd, capture_output=True, text=True,
                                input=stdin, check=False, env={**self.env, **(extra_env or {})})
        if check and result.returncode != 0:
            raise GitError(f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def upstream(self) -> Upstream:
        """The checked-out branch and the remote branch it tracks (never a guessed 'main')."""
        branch = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
        if not branch:
            raise GitError("HEAD is detached, so there is no branch to push to",
                           hint="Check out the branch to deploy to (actions/checkout does by default)")
        remote = self.run("config", "--get", f"branch.{branch}.remote", check=False).stdout.strip()
        merge = self.run("config", "--get", f"branch.{branch}.merge", check=False).stdout.strip()
        if not remote or remote == "." or not merge.startswith("refs/heads/"):
            remotes = self.out("remote").split()
            if remotes != ["origin"] and "origin" not in remotes:
                raise GitError(f"the branch {branch!r} has no upstream and there is no 'origin'",
                               hint=f"Run: git branch --set-upstream-to=<remote>/{branch}")
            return Upstream("origin", branch, branch)
        return Upstream(remote, merge[len("refs/heads/"):], branch)

    def ensure_clean(self) -> None:
        dirty = self.run("status", "--porcelain", "--untracked-files=no").stdout.rstrip("\n")
        if dirty:
            raise GitError("the work tree has uncommitted changes to tracked files: "
                           + ", ".join(line[3:] for line in dirty.splitlines()[:5]),
                           hint="Commit or stash them first; the receiver resets to the remote branch")

    def fetch(self, up: Upstream) -> None:
        self.run("fetch", "--quiet", "--no-tags", "--", up.remote,
                 f"+refs/heads/{up.branch}:{up.tracking}")

    def ensure_pushed(self, up: Upstream) -> None:
        """Refuse to reset over local commits the remote does not have."""
        if self.run("merge-base", "--is-ancestor", "HEAD", up.tracking, check=False).returncode:
            raise GitError(f"the branch {up.local!r} has commits that are not on "
                           f"{up.remote}/{up.branch}",
                           hint="Push or drop them first, or use push: false")

    def reset_to(self, up: Upstream) -> None:
        self.run("reset", "--quiet", "--hard", up.tracking)

    def rev(self, ref: str) -> str:
        return self.out("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")

    def commit(self, message: str, files: Sequence[str], author: Author) -> str:
        """Commit ``files`` on the checked-out branch; the index must otherwise equal HEAD
        (ensure_clean, then reset_to, guarantee it).

        Plumbing rather than ``git commit -- <files>``: that one builds a second index and
        refreshes it, statting every file of the repository; ``write-tree`` reuses the index's
        cached trees, so the cost follows the files changed, not the size of the repository.
        """
        self.run("add", "--", *files)
        identity = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
                    "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email}
        # No parent on an unborn branch; update-ref then checks that HEAD is still unborn ("").
        parent = self.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}",
                          check=False).stdout.strip()
        tree = self.out("write-tree")
        commit = self.run("commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-",
                          stdin=message, extra_env=identity).stdout.strip()
        self.run("update-ref", "-m", f"commit: {message.splitlines()[0]}", "HEAD", commit, parent)
        return commit

    def push(self, up: Upstream) -> bool:
        """Push HEAD to the upstream branch: True when it landed, False when it lost a race."""
        result = self.run("push", "--porcelain", "--", up.remote, f"HEAD:refs/heads/{up.branch}",
                          check=False)
        if result.returncode == 0:
            return True
        status = [line for line in result.stdout.splitlines() if line.startswith("!\t")]
        if status and all(any(reason in line for reason in RACE_REASONS) for line in status):
            return False
        remote_lines = [line for line in result.stderr.splitlines()
                        if line.startswith(("remote:", "error:", "fatal:", " ! ", "!"))]
        message = "\n".join(remote_lines or status or [result.stderr.strip()])
        if not status and any(reason in result.stderr for reason in DISCONNECT_REASONS):
            raise PushIncompleteError(
                f"the push to {up.remote}/{up.branch} did not complete:\n{message}",
                hint="The remote could not be reached or hung up. The deploy commit is kept in "
                "this clone, not pushed; run the job again (a deploy that landed after all "
                "makes no second commit)")
        raise PushRejectedError(f"the push to {up.remote}/{up.branch} was refused:\n{message}",
                                hint="This is not a race with another deploy, so it is not retried; "
                                "check branch protection, hooks and the token's rights")


@dataclass(frozen=True)
class PushOutcome:
    commit: str
    attempts: int


def backoff(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Full jitter: a random delay up to base·2^(attempt-1), capped."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - not for security


def push_loop(git: Git, up: Upstream, apply: Callable[[], list[str] | None], message: str,
              author: Author, max_attempts: int, log: Callable[[str], None],
              sleep: Callable[[float], None] = time.sleep) -> PushOutcome | None:
    """fetch → reset → ``apply()`` → commit → push, until the push lands. The work tree must be
    clean (``Git.ensure_clean``); local commits the remote lacks are refused, never reset away.

    ``apply`` re-reads and edits the files; it returns the changed paths, or None when there is
    nothing to change any more (someone else deployed the same thing): then no commit is made.
    """
    for attempt in range(1, max_attempts + 1):
        git.fetch(up)
        if attempt == 1:
            git.ensure_pushed(up)
        # reset --hard stats every file of the repository: skip it when the branch already is
        # where the remote is (the caller checked that the work tree is clean).
        if attempt > 1 or git.rev("HEAD") != git.rev(up.tracking):
            git.reset_to(up)
        files = apply()
        if files is None:
            return None
        commit = git.commit(message, files, author)
        if git.push(up):
            return PushOutcome(commit, attempt)
        log(f"push attempt {attempt}/{max_attempts} lost a race with another push; retrying")
        if attempt < max_attempts:
            sleep(backoff(attempt))
    git.reset_to(up)
    raise PushContentionError(f"the push to {up.remote}/{up.branch} lost the race {max_attempts} "
                              "times", input_name="max-attempts",
                              hint="Raise max-attempts, or deploy less often to the same branch")
