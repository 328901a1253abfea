"""A deploy is a transaction on the clone: it ends pushed, or with the clone as it found it.

Before the first file is touched, a journal (``.git/gitops-release/transaction.json``) records
where HEAD was and, before each write, which files the deploy is about to write. On any failure
or signal the deploy restores the clone from it: temp files removed, the index and the written
files back to HEAD, then HEAD (and its branch) back where it was with ``reset --keep``, which
never overwrites an untracked file. A run killed outright (SIGKILL) cannot clean up: the next
run in the clone finds its journal and restores the clone first, then deploys.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gitops_release import signals
from gitops_release.errors import CloneStateError, GitError, GitopsReleaseError
from gitops_release.gitops import Git

JOURNAL = "gitops-release/transaction.json"
TEMP_PREFIX = ".gitops-release-"


def temp_prefix(pid: int | None = None) -> str:
    """The prefix of the temp files a run writes beside the files it replaces: its pid in it,
    so that a rollback removes that run's own and never a user's file of a similar name."""
    return f"{TEMP_PREFIX}{os.getpid() if pid is None else pid}-"


class Transaction:
    """One deploy's changes to a clone; use ``Transaction.open`` as a context manager."""

    def __init__(self, git: Git, log: Callable[[str], None]) -> None:
        self.git = git
        self.log = log
        self.journal = git.git_path(JOURNAL)
        self.head = ""
        self.paths: list[str] = []
        self.created: list[str] = []  # files the deploy creates (e.g. a first policy file)
        self.pid = os.getpid()  # whose temp files a rollback removes

    @classmethod
    @contextmanager
    def open(cls, git: Git, log: Callable[[str], None]) -> Iterator[Transaction]:
        """Begin (after recovering from an interrupted run); on any exception or signal inside
        the block, roll back and re-raise; on success forget the journal."""
        with signals.handled():
            txn = cls(git, log)
            with signals.deferred():
                txn._begin()
            try:
                yield txn
                git.settle()
            except BaseException as failure:
                signals.discard()
                with signals.deferred():
                    txn._abort(failure)
                    signals.discard()
                raise
            txn.journal.unlink(missing_ok=True)

    def will_write(self, paths: Sequence[str], created: Sequence[str] = ()) -> None:
        """Journal ``paths`` (and the new files ``created``) before they are written (once the
        clean check has passed)."""
        self.git.settle()
        with signals.deferred():
            self.paths += [p for p in paths if p not in self.paths]
            self.created += [p for p in created if p not in self.created]
            self._save()

    # -- internals ---------------------------------------------------------------------------
    def _begin(self) -> None:
        self._recover()
        self.head = self.git.rev("HEAD")
        self._save()  # first: the next git command may take index.lock, and a kill can leave it
        try:
            self.git.wait_for_index_lock()
        except BaseException:
            self.journal.unlink(missing_ok=True)  # nothing was touched: nothing to restore
            raise
        self.git.start_clean_check()  # awaited before the first change to the clone

    def _abort(self, failure: BaseException) -> None:
        """Roll back after ``failure``. Until the clean check has passed nothing changes the
        clone: then there is nothing to restore (a rollback would reset changes that are not
        ours), and the check's refusal is the error that counts."""
        try:
            self.git.settle()
        except GitopsReleaseError as dirty:
            self.journal.unlink(missing_ok=True)
            raise dirty from failure
        if not self.git.clean:
            self.journal.unlink(missing_ok=True)
            return
        try:
            self._rollback()
        except GitopsReleaseError as problem:
            self.log(f"the clone could not be restored: {problem}")

    def _save(self) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        temp = self.journal.with_name(f"{self.journal.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps({"pid": os.getpid(), "head": self.head, "paths": self.paths,
                                    "created": self.created, "time": time.time()}),
                        encoding="utf-8")
        temp.replace(self.journal)

    def _recover(self) -> None:
        """Restore the clone an interrupted run left behind, if any."""
        try:
            data = json.loads(self.journal.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            data = {}
        pid = data.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _running(pid):
            raise CloneStateError(
                f"another gitops-release run (pid {pid}) is deploying in this clone",
                hint="Wait for it to finish; run one deploy per clone at a time")
        self.head = str(data.get("head") or "")
        self.pid = pid if isinstance(pid, int) else -1
        self.paths = [str(p) for p in data.get("paths") or []]
        self.created = [str(p) for p in data.get("created") or []]
        self.log("an earlier deploy in this clone was interrupted; restoring the clone first")
        self._clear_stale_locks()
        self.git.wait_for_index_lock()
        self._rollback()
        self.head, self.paths, self.created, self.pid = "", [], [], os.getpid()

    def _clear_stale_locks(self) -> None:
        """Lock files the killed run's git commands left: removed when no git process works in
        this clone any more (a runner cancelling a job kills the whole process tree)."""
        locks = [self.git.git_path(name) for name in ("index.lock", "HEAD.lock", "packed-refs.lock")]
        refs = self.git.git_path("refs")
        locks += list(refs.rglob("*.lock")) if refs.is_dir() else []
        locks = [lock for lock in locks if lock.exists()]
        if not locks or _git_running_in(self.git.cwd):
            return
        for lock in locks:
            self.log(f"removing {lock.name}, left by the interrupted deploy's git")
            lock.unlink(missing_ok=True)

    def _rollback(self) -> None:
        git = self.git
        for folder in {Path(p).parent for p in self.paths}:  # this run's temp files only
            for temp in (git.cwd / folder).glob(f"{temp_prefix(self.pid)}*"):
                temp.unlink(missing_ok=True)
        if self.journal.exists() or self.head:
            git.run("reset", "--quiet")  # the index back to HEAD; the work tree is not touched
            mine = [p for p, tag in (git.tracked(self.paths) if self.paths else {}).items()
                    if tag not in "Ss"]  # git checks out no skip-worktree path
            if mine:
                git.run("checkout", "--quiet", "--", *mine)
            for path in self.created:  # a file this deploy created, never one git tracks
                if path not in git.tracked([path]):
                    (git.cwd / path).unlink(missing_ok=True)
            if self.head and git.rev("HEAD") != self.head:
                try:
                    git.move_to(self.head)
                except GitError as exc:
                    raise CloneStateError(f"the clone could not be put back on {self.head[:12]}: "
                                          f"{exc.message}", hint=exc.hint) from exc
        self.journal.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live gitops-release process (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"gitops_release" in cmdline or b"gitops-release" in cmdline


def _git_running_in(root: Path) -> bool:
    """Whether a git process runs with its working directory in ``root`` (Linux ``/proc``; when
    that cannot be read, assume one does)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    here = root.resolve()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().startswith("git"):
                continue
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        if cwd == here or here in cwd.parents:
            return True
    return False
