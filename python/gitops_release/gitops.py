"""Git for the receiver: commit a deploy and push it to the checked-out branch's upstream.

The push loop never force-pushes. Each attempt starts from the remote branch as it is now (fetch,
``reset --keep``, which refuses to overwrite an untracked file), re-applies the edit to the files
as they are there, commits and pushes. A push
that lost a race (non-fast-forward, a ref locked by a concurrent push) is retried after a jittered
back-off, up to ``max_attempts``; any other refusal (a hook, branch protection, missing rights) is
final and reported with the server's own message.

A token, when given, reaches git as an ``http.<server>/.extraheader`` set through
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n`` variables of the git process only: it is never written to
``.git/config`` and never appears on a command line.
"""

from __future__ import annotations

import base64
import os
import random
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_release import signals
from gitops_release.errors import (
    CloneStateError,
    GitError,
    PushContentionError,
    PushIncompleteError,
    PushRejectedError,
    RemoteRewrittenError,
    ResourceError,
)

RACE_REASONS = ("fetch first", "non-fast-forward", "cannot lock ref", "failed to lock",
                "failed to update ref", "incorrect old value", "stale info", "atomic push failed",
                "atomic transaction failed")
# What git says when the remote went away before giving a verdict on the ref (no "!" status line).
DISCONNECT_REASONS = ("hung up unexpectedly", "unexpected disconnect", "early EOF",
                      "does not appear to be a git repository", "Could not resolve host",
                      "Failed to connect", "Connection refused", "Connection timed out",
                      "Connection reset")
LOCK_RE = re.compile(r"Unable to create '([^']+\.lock)': File exists")
UNTRACKED_RE = re.compile(r"^\t(.+)$", re.MULTILINE)
REMOTE_COMMANDS = ("push", "fetch", "ls-remote")
# Commands that change neither the work tree, the index nor HEAD: they need not wait for a
# clean check running in the background (Git.start_clean_check).
READS_ONLY = ("ls-files", "rev-parse", "var", "symbolic-ref", "merge-base", "for-each-ref",
              "ls-remote", "cat-file", "show", "fetch", "reflog", "remote", "diff")
CLEAN_CHECK = ("status", "--porcelain", "--untracked-files=no")
OURS = "gitops-release"  # our folder in the git directory: the journal, fast-import's marks
LOCK_WAIT = 5.0  # seconds a deploy waits for another git process to release index.lock


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
        self.index_cache: dict[str, tuple[str, str]] | None = None
        self.index_listed: set[str] | None = None  # paths asked for, when not the whole index
        self.pending_clean: subprocess.Popen[str] | None = None
        self.clean = False  # the last clean check passed
        self.git_paths: dict[str, Path] = {}

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            extra_env: Mapping[str, str] | None = None,
            landing: bool = False) -> subprocess.CompletedProcess[str]:
        """Run git. A signal waits for the command to end (a killed git leaves its lock files
        behind); after a ``landing`` command that succeeded (a push), signals are held off. A
        command that may change the clone first waits for a clean check running in the
        background."""
        if self.pending_clean is not None and not _reads_only(args):
            self.ensure_clean()
        with signals.deferred():
            result = subprocess.run(["git", *args], cwd=self.cwd, capture_output=True, text=True,
                                    input=stdin, check=False, errors="surrogateescape",
                                    env={**self.env, **(extra_env or {})})
            if landing and result.returncode == 0:
                signals.hold()
        if result.returncode != 0:
            if args[0] not in REMOTE_COMMANDS:  # a lock or a full disk of the remote is not ours
                _raise_for_environment(result.stderr)
            if check:
                raise GitError(f"git {args[0]} failed: "
                               f"{result.stderr.strip() or result.stdout.strip()}")
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

    def start_clean_check(self) -> None:
        """Start ``ensure_clean``'s check in the background: it stats every tracked file, the
        slowest step of a deploy's start in a large repository. It takes no lock and writes
        nothing (``--no-optional-locks``). Until it has ended nothing may change the clone:
        every command but those that only read (``run``, ``feed``), and
        ``Transaction.will_write``, wait for it and raise its error first."""
        self.clean = False
        self.pending_clean = subprocess.Popen(
            ["git", "--no-optional-locks", *CLEAN_CHECK], cwd=self.cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, errors="surrogateescape", env=self.env)

    def ensure_clean(self) -> None:
        """Refuse a work tree with uncommitted changes to tracked files (the check started in
        the background, if one is running; else now)."""
        pending, self.pending_clean = self.pending_clean, None
        self.clean = False
        if pending is None:
            dirty = self.run(*CLEAN_CHECK).stdout
        else:
            with signals.deferred():
                dirty, stderr = pending.communicate()
            if pending.returncode != 0:
                _raise_for_environment(stderr)
                raise GitError(f"git status failed: {stderr.strip()}")
        dirty = dirty.rstrip("\n")
        if dirty:
            names = [line[3:] for line in dirty.splitlines()]
            raise CloneStateError(
                "the work tree has uncommitted changes to tracked files: "
                + ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else ""),
                hint="The receiver starts from a clean clone and resets it to the remote branch. "
                "Run it in a fresh checkout, or discard the changes (git restore --staged "
                "--worktree -- <files>); do not commit them: they may be half of another deploy")
        self.clean = True

    def settle(self) -> None:
        """Wait for a clean check running in the background, raising its error (no-op when
        none runs)."""
        if self.pending_clean is not None:
            self.ensure_clean()

    def git_path(self, name: str) -> Path:
        """A path inside the repository's git directory (``git rev-parse --git-path``), asked
        once per name; ours (``gitops-release/...``) once in all."""
        if name.startswith(OURS + "/"):
            return self.git_path(OURS) / name[len(OURS) + 1:]
        if name not in self.git_paths:
            self.git_paths[name] = self.cwd / self.out("rev-parse", "--git-path", name)
        return self.git_paths[name]

    def wait_for_index_lock(self, timeout: float | None = None) -> None:
        """Wait briefly for another git process to release ``index.lock``, then refuse."""
        lock = self.git_path("index.lock")
        deadline = time.monotonic() + (LOCK_WAIT if timeout is None else timeout)
        while lock.exists():
            if time.monotonic() >= deadline:
                raise _lock_error(str(lock))
            time.sleep(0.1)

    def tracked(self, paths: Sequence[str]) -> dict[str, str]:
        """The tracked ones among ``paths``, each with its ``ls-files -v`` tag ("H" for a plain
        tracked file; lowercase: assume-unchanged; "S"/"s": skip-worktree)."""
        return {path: tag for path, (tag, _mode) in self.index_entries(paths).items()}

    def index_entries(self, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
        """path → (``ls-files -v`` tag, file mode) for the tracked ones among ``paths``."""
        if not paths:
            return {}
        cache, listed = self.index_cache, self.index_listed
        if cache is None:
            return index_listing(self.run("ls-files", "-z", "-s", "-v", "--", *paths).stdout)
        missing = [p for p in paths if listed is not None and p not in listed]
        if missing and listed is not None:
            cache.update(index_listing(self.run("ls-files", "-z", "-s", "-v", "--", *missing).stdout))
            listed.update(missing)
        return {p: cache[p] for p in paths if p in cache}

    def cache_index(self, on: bool, whole: bool = True) -> None:
        """Keep what the index says about paths while it does not change, or stop: read the
        whole listing once (``whole``: a carrier checks many deploys' files), else each path
        once when first asked for (one deploy: the listing of a large index costs more)."""
        self.index_cache = None if not on else \
            index_listing(self.run("ls-files", "-z", "-s", "-v").stdout) if whole else {}
        self.index_listed = set() if on and not whole else None

    def forget_index(self) -> None:
        """The index changed (a folder added to a sparse checkout clears its files'
        skip-worktree bits): what was kept of it is asked again, path by path."""
        if self.index_cache is not None:
            self.index_cache, self.index_listed = {}, set()

    def feed(self, args: Sequence[str], data: bytes) -> bytes:
        """Run git with binary stdin and stdout (fast-import, cat-file --batch)."""
        if not _reads_only(args):
            self.settle()
        with signals.deferred():
            result = subprocess.run(["git", *args], cwd=self.cwd, input=data, capture_output=True,
                                    check=False, env=self.env)
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace")
            _raise_for_environment(stderr)
            raise GitError(f"git {args[0]} failed: {stderr.strip()}")
        return result.stdout

    def check_targets(self, paths: Sequence[str]) -> None:
        """Refuse to write a file git does not track, or one git is told not to look at."""
        tags = self.tracked(paths)
        untracked = [p for p in paths if p not in tags]
        if untracked:
            raise CloneStateError(
                "the deploy would write files git does not track: " + ", ".join(untracked),
                hint="Commit them to the config repo first, or delete them from the clone")
        hidden = {p: tag for p, tag in tags.items() if tag in "Ss" or tag.islower()}
        if hidden:
            raise CloneStateError(
                "git is told not to look at " + ", ".join(
                    f"{p} ({'skip-worktree' if tag in 'Ss' else 'assume-unchanged'})"
                    for p, tag in hidden.items()) + ", so a deploy could commit nothing",
                hint="Clear the bit (git update-index --no-assume-unchanged --no-skip-worktree "
                "-- <file>) or deploy from a fresh clone")

    def move_to(self, rev: str) -> None:
        """Move the branch and work tree to ``rev`` (a fast-forward or a rollback): the work
        tree must be clean; an untracked file in the way is refused, named, never overwritten."""
        added = self.run("diff", "--name-only", "--no-renames", "--diff-filter=A", "-z",
                         "HEAD", rev, "--").stdout.split("\0")
        blocked = [p for p in added if p and _in_the_way(self.cwd, p)]
        if not blocked:  # reset --keep trusts the index's file times: a copied work tree
            self.run("update-index", "-q", "--refresh", check=False)  # has others (act)
        result = self.run("reset", "--quiet", "--keep", rev, check=False) if not blocked else None
        if result is not None and result.returncode == 0:
            return
        if result is not None and "would be overwritten" not in result.stderr:
            raise GitError(f"git reset --keep {rev} failed: {result.stderr.strip()}")
        names = blocked or UNTRACKED_RE.findall(result.stderr if result else "")
        raise CloneStateError(
            f"untracked files are in the way of {rev[:12]}: " + ", ".join(names[:10]),
            hint="The remote branch now tracks these paths. Move or delete the untracked "
            "files (the receiver never overwrites them), then run again")

    def fetch(self, up: Upstream) -> None:
        self.run("fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--", up.remote,
                 f"+refs/heads/{up.branch}:{up.tracking}")

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.run("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0

    def ensure_pushed(self, up: Upstream, before: str = "") -> None:
        """Refuse to move over local commits the remote does not have. ``before`` is what the
        tracking ref held before the fetch: when the remote no longer holds it (nor a commit
        this clone once saw there), its history was rewritten, and the message says so."""
        if self.is_ancestor("HEAD", up.tracking):
            return
        seen = [before] if before else []
        seen += self.run("reflog", "show", "--format=%H", "-n", "20", up.tracking,
                         "--", check=False).stdout.split()
        if any(self.is_ancestor("HEAD", old) for old in dict.fromkeys(seen)):
            raise RemoteRewrittenError(
                f"the history of {up.remote}/{up.branch} was rewritten (force-pushed): it no "
                f"longer holds the commit this clone is on ({self.rev('HEAD')[:12]})",
                hint="Nothing was changed. Check out the branch again (a fresh clone) and run "
                "again; check with the repository's owners why the branch was force-pushed")
        raise CloneStateError(f"the branch {up.local!r} has commits that are not on "
                              f"{up.remote}/{up.branch}",
                              hint="Push or drop them first, or use push: false")

    def rev(self, ref: str) -> str:
        return self.out("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")

    def revs(self, *refs: str) -> list[str]:
        """The commits of ``refs`` in one git command ('' for one that names no commit)."""
        result = self.run("rev-parse", *(f"{ref}^{{commit}}" for ref in refs), check=False)
        shas = result.stdout.split()
        if result.returncode == 0 and len(shas) == len(refs):
            return shas
        return [self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                         check=False).stdout.strip() for ref in refs]

    def commit(self, message: str, files: Sequence[str], author: Author) -> str:
        """Commit ``files`` on the checked-out branch; the index must otherwise equal HEAD
        (ensure_clean, then move_to, guarantee it).

        Plumbing rather than ``git commit -- <files>``: that one builds a second index and
        refreshes it, statting every file of the repository; ``write-tree`` reuses the index's
        cached trees, so the cost follows the files changed, not the size of the repository.
        """
        self.run("add", "--force", "--", *files)  # tracked (checked): even in an ignored folder
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
        return self.push_refs(up, [f"HEAD:refs/heads/{up.branch}"])

    def push_refs(self, up: Upstream, specs: Sequence[str], options: Sequence[str] = ()) -> bool:
        """Push ``specs`` to the upstream's remote, all or none (``--atomic`` for several): True
        when it landed, False when it lost a race; any other refusal raises."""
        atomic = ["--atomic"] if len(specs) > 1 else []
        result = self.run("push", "--porcelain", *atomic, *options, "--", up.remote, *specs,
                          check=False, landing=any(":refs/heads/" in spec for spec in specs))
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
                hint="The remote could not be reached or hung up. The clone was restored, "
                "nothing is kept; run the job again (a deploy that landed after all makes no "
                "second commit)")
        raise PushRejectedError(f"the push to {up.remote}/{up.branch} was refused:\n{message}",
                                hint="This is not a race with another deploy, so it is not retried; "
                                "check branch protection, hooks and the token's rights")

def _reads_only(args: Sequence[str]) -> bool:
    """Whether git ``args`` leave the work tree, the index and HEAD alone (``config`` only when
    it reads a key)."""
    if args[0] == "config":
        return len(args) == 3 and args[1] in ("--get", "--bool")
    return args[0] in READS_ONLY


def _lock_error(lock: str) -> CloneStateError:
    return CloneStateError(
        f"{lock} exists: another git process is working in this clone (or one was killed "
        "and left its lock behind)",
        hint="Wait for the other git command to finish. If no git process runs in this clone, "
        "delete the lock file and run again")


def _raise_for_environment(stderr: str) -> None:
    """Turn what git says about its environment (a held lock, a full disk) into the error that
    names it, whatever the command was."""
    lock = LOCK_RE.search(stderr)
    if lock:
        raise _lock_error(lock.group(1))
    if "No space left on device" in stderr or "Disk quota exceeded" in stderr:
        raise ResourceError(f"git ran out of disk space: {stderr.strip()[-300:]}",
                            hint="Free space on the runner (or use a smaller checkout) and run "
                            "again; the clone was restored")


def _in_the_way(root: Path, path: str) -> bool:
    """An untracked file at ``path`` or at one of its parent folders' places."""
    parts = Path(path).parts
    for i in range(1, len(parts) + 1):
        here = root.joinpath(*parts[:i])
        if os.path.lexists(here) and (i == len(parts) or not here.is_dir() or here.is_symlink()):
            return True
        if not os.path.lexists(here):
            return False
    return False


def check_identity(git: Git, author: Author) -> None:
    """Git's own rules for the commit identity, checked before anything is written: git must
    accept it (``git var``), and record it exactly as given (it silently drops '<', '>' and
    newlines, and trims some characters at the ends)."""
    env = {"GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email}
    result = git.run("var", "GIT_COMMITTER_IDENT", check=False, extra_env=env)
    if result.returncode != 0:
        reason = result.stderr.strip().removeprefix("fatal: ")
        name = "git-user-email" if "email" in reason else "git-user-name"
        raise GitError(f"git refuses the commit identity: {reason}", input_name=name,
                       hint="Give a name and an email git accepts, e.g. "
                       "'github-actions[bot]' and its noreply address")
    recorded = result.stdout.strip().rsplit(" ", 2)[0]
    if recorded != f"{author.name} <{author.email}>":
        name = "git-user-name" if not recorded.startswith(f"{author.name} <") else "git-user-email"
        raise GitError(f"git would record the identity as {recorded!r}, not as given",
                       input_name=name, hint="Remove '<', '>', and leading or trailing "
                       "punctuation and spaces")


def index_listing(listing: str) -> dict[str, tuple[str, str]]:
    """``ls-files -z -s -v`` → path → (tag, mode)."""
    out = {}
    for entry in listing.split("\0"):
        if entry:
            info, _, path = entry.partition("\t")
            tag, mode = info.split(" ")[:2]
            out[path] = (tag, mode)
    return out


@dataclass(frozen=True)
class NewCommit:
    """A commit to write: ``files`` (path → (mode, content)) on top of ``parent`` ('' for a
    root commit)."""

    parent: str
    message: str
    author: Author
    files: Mapping[str, tuple[str, bytes | str]]  # content, or the SHA of a blob written


def plain_identity(author: Author) -> bool:
    """Whether git records ``author`` exactly as given (what ``check_identity`` asks git)."""
    crud = " .,:;<>\"\\'\t\n"
    return (not any(ch in author.name + author.email for ch in "<>\n\0")
            and bool(author.name.strip(crud)) and author.name == author.name.strip(crud))


def _quote(path: str) -> str:
    if path.startswith('"') or "\n" in path:
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return path


CONVERTING = ("filter", "ident", "working-tree-encoding", "text", "eol", "crlf")


def _git_out(cwd: Path, env: Mapping[str, str], args: Sequence[str],
             data: bytes | None = None) -> bytes | None:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, env=dict(env), input=data,
                                capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _attribute_files(cwd: Path, env: Mapping[str, str], paths: Sequence[str]) -> bool:
    """Whether an attributes file may apply to ``paths``: a ``.gitattributes`` in their
    folders or above (a sparse checkout holds every parent folder's files), the repository's
    ``info/attributes`` (where git keeps it: a linked worktree's or a submodule's is in the
    common git folder), the user's ``git/attributes``, or a ``core.attributesFile`` in any git
    config git reads (asked of git: includes, XDG, environment)."""
    folders = {Path(p).parent for p in paths}
    for folder in set(folders):
        folders.update(folder.parents)
    if any((cwd / folder / ".gitattributes").exists() for folder in folders):
        return True
    home = env.get("HOME") or os.environ.get("HOME") or ""
    xdg = env.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else "")
    if xdg and Path(xdg, "git", "attributes").exists():
        return True
    info = _git_out(cwd, env, ["rev-parse", "--path-format=absolute", "--git-path",
                               "info/attributes"])
    if info is None or Path(info.decode("utf-8", "surrogateescape").strip()).exists():
        return True  # git could not say: ask check-attr
    return _git_out(cwd, env, ["config", "--get", "core.attributesFile"]) is not None


def cleaned(cwd: Path, env: Mapping[str, str],
            commits: Sequence[NewCommit]) -> list[NewCommit] | None:
    """``commits`` with each file as git would store it from the work tree: where the path's
    attributes convert content on the way in (a ``filter`` such as git-crypt's, ``ident``,
    ``working-tree-encoding``, or line-ending normalization of a file holding CR LF), the blob
    that ``git hash-object --path`` writes, converted as ``git add`` would. Files without such
    attributes (one ``git check-attr`` tells) are left as they are. None when git fails."""
    paths = sorted({path for c in commits for path in c.files})
    carriage = any(isinstance(data, bytes) and b"\r" in data
                   for c in commits for _, data in c.files.values())
    if not paths or not (carriage or _attribute_files(cwd, env, paths)):
        return list(commits)  # nothing converts (git check-attr reads the whole index: 50 ms)
    listing = _git_out(cwd, env, ["check-attr", "-z", *CONVERTING, "--", *paths])
    if listing is None:
        return None
    fields = listing.decode("utf-8", "surrogateescape").split("\0")
    attrs: dict[str, dict[str, str]] = {}
    for i in range(0, len(fields) - 2, 3):
        if fields[i + 2] not in ("unspecified", "unset"):
            attrs.setdefault(fields[i], {})[fields[i + 1]] = fields[i + 2]
    autocrlf = b""
    if carriage:
        autocrlf = _git_out(cwd, env, ["config", "--get", "core.autocrlf"]) or b""
    out = []
    for commit in commits:
        files = dict(commit.files)
        for path, (mode, data) in commit.files.items():
            have = attrs.get(path, {})
            if isinstance(data, str):
                continue
            filtering = any(k in have for k in ("filter", "ident", "working-tree-encoding"))
            eol = b"\r" in data and (bool(have) or autocrlf.strip() in (b"true", b"input"))
            if mode == "120000" or not (filtering or eol):
                continue
            oid = _git_out(cwd, env, ["hash-object", "-w", "--stdin", f"--path={path}"], data)
            if oid is None:
                return None
            files[path] = (mode, oid.strip().decode("ascii"))
        out.append(NewCommit(commit.parent, commit.message, commit.author, files))
    return out


def _import_stream(commits: Sequence[NewCommit], chain: bool) -> bytes:
    """``git fast-import``'s input for ``commits``: each on a branch of the stream that is
    reset at the end, so that no ref is written (``get-mark`` prints the SHAs)."""
    token = f"{os.getpid()}-{os.urandom(4).hex()}"
    now = f"{int(time.time())} +0000"
    stream = bytearray()
    for i, commit in enumerate(commits, 1):
        who = f"{commit.author.name} <{commit.author.email}> {now}"
        message = commit.message.encode("utf-8", "surrogateescape")
        stream += (f"commit refs/gitops-release-import/{token}/{i}\nmark :{i}\n"
                   f"author {who}\ncommitter {who}\ndata {len(message)}\n").encode()
        stream += message + b"\n"
        parent = f":{i - 1}" if chain and i > 1 else commit.parent
        if parent:
            stream += f"from {parent}\n".encode()
        for path, (mode, data) in commit.files.items():
            if isinstance(data, str):  # a blob written already (``cleaned``)
                stream += f"M {mode} {data} {_quote(path)}\n".encode("utf-8", "surrogateescape")
                continue
            stream += f"M {mode} inline {_quote(path)}\ndata {len(data)}\n".encode("utf-8",
                                                                               "surrogateescape")
            stream += data + b"\n"
    for i in range(1, len(commits) + 1):
        stream += f"get-mark :{i}\n".encode()
    for i in range(1, len(commits) + 1):  # a reset without "from": the ref is never written
        stream += f"reset refs/gitops-release-import/{token}/{i}\n\n".encode()
    return bytes(stream + b"done\n")


def _marks(out: bytes, count: int) -> list[str] | None:
    shas = out.decode("ascii", errors="replace").split()
    return shas if len(shas) == count and all(len(sha) in (40, 64) for sha in shas) else None


def _commits_key(commits: Sequence[NewCommit], chain: bool) -> tuple[object, ...]:
    return (chain, *((c.parent, c.message, c.author, tuple(sorted(c.files.items())))
                     for c in commits))


_PREPARED: dict[tuple[object, ...], list[str]] = {}  # commits written ahead: prepare_commits


def write_commits(git: Git, commits: Sequence[NewCommit], chain: bool) -> list[str]:
    """Write ``commits`` with one ``git fast-import`` (no ref, no index, no work tree): chained
    one on the other when ``chain`` (the first on its parent), else each on its own parent.
    Returns their SHAs. Commits written ahead with exactly this content (``prepare_commits``)
    are not written again. Identities must pass ``plain_identity``."""
    prepared = _PREPARED.pop(_commits_key(commits, chain), None)
    if prepared is not None:
        return prepared
    clean = cleaned(git.cwd, git.env, commits)
    if clean is None:
        raise GitError("git could not convert the files written as its attributes ask "
                       "(.gitattributes filter, ident or line endings)",
                       hint="Check that the repository's filters (e.g. git-crypt) are set up "
                       "in the clone")
    out = git.feed(["fast-import", "--quiet", "--done"], _import_stream(clean, chain))
    shas = _marks(out, len(commits))
    if shas is None:
        raise GitError(f"git fast-import gave no commit for {len(commits)} written",
                       hint="Check the git installation (git fast-import)")
    return shas


def prepare_commits(cwd: Path, env: Mapping[str, str], commits: Sequence[NewCommit],
                    chain: bool) -> None:
    """Write ``commits`` ahead: from the thread that plans a deploy, while the render that
    proves its edit runs, so that the deploy's ``write_commits`` of the same commits, once the
    proof holds, finds them written. Objects only (no ref, index or work-tree change; a commit
    nothing uses is an unreachable object, which git's gc prunes); a plain git process, no
    signal handling of a deploy's own commands. Any failure leaves it to ``write_commits``."""
    key = _commits_key(commits, chain)
    if key in _PREPARED:
        return
    clean = cleaned(cwd, env, commits)
    if clean is None:
        return
    try:
        result = subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=cwd,
                                input=_import_stream(clean, chain), capture_output=True,
                                check=False, env=dict(env), timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return
    shas = _marks(result.stdout, len(commits)) if result.returncode == 0 else None
    if shas is not None:
        _PREPARED[key] = shas


@dataclass(frozen=True)
class PushOutcome:
    commit: str
    attempts: int


def backoff(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Full jitter: a random delay up to base·2^(attempt-1), capped."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - not for security


def push_loop(git: Git, up: Upstream, apply: Callable[[], list[str] | None], message: str,
              author: Author, max_attempts: int, log: Callable[[str], None],
              sleep: Callable[[float], None] = time.sleep,
              deadline: float | None = None, checked: bool = False) -> PushOutcome | None:
    """fetch → move to the remote tip → ``apply()`` → commit → push, until the push lands, for up
    to ``max_attempts`` attempts and until ``deadline`` (``time.monotonic()``). The work tree must
    be clean (``Git.ensure_clean``); local commits the remote lacks are refused, never moved away
    (unless ``checked``: the caller checked that before making its own). On failure the caller's
    transaction restores the clone.

    ``apply`` re-reads and edits the files; it returns the changed paths, or None when there is
    nothing to change any more (someone else deployed the same thing): then no commit is made.
    """
    attempt = 0
    while attempt < max_attempts and (attempt == 0 or deadline is None
                                      or time.monotonic() < deadline):
        attempt += 1
        files = prepare(git, up, apply, first=attempt == 1 and not checked)
        if files is None:
            return None
        commit = git.commit(message, files, author)
        if git.push(up):
            return PushOutcome(commit, attempt)
        log(f"push attempt {attempt}/{max_attempts} lost a race with another push; retrying")
        if attempt < max_attempts:
            sleep(backoff(attempt))
    raise PushContentionError(f"the push to {up.remote}/{up.branch} lost the race {attempt} "
                              "times", input_name="max-attempts",
                              hint="Raise max-attempts (or push-timeout), or deploy less often "
                              "to the same branch")


def prepare(git: Git, up: Upstream, apply: Callable[[], list[str] | None],
            first: bool) -> list[str] | None:
    """Fetch, move to the remote tip (checking, the first time, that no local commit is lost)
    and apply the edit there."""
    before = git.run("rev-parse", "--verify", "--quiet", up.tracking, check=False).stdout.strip()
    git.fetch(up)
    if first:
        git.ensure_pushed(up, before)
    # Moving stats every file of the repository: skip it when the branch is already there.
    tip = git.rev(up.tracking)
    if git.rev("HEAD") != tip:
        git.move_to(tip)
    return apply()
