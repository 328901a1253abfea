"""Group commit: a wave of deploys to one branch lands in a few pushes instead of N² attempts.

A deploy that loses the race to the branch does not just retry. It publishes its request (the
receiver inputs it was given, without the token) as a *pending ref*,
``refs/gitops-release/pending/<id>`` (ids sort by arrival), and waits. The first pending deploy in
line (or, when it makes no progress, the next) *carries* every pending deploy: on top of the
branch's tip it re-plans each request with all the checks of a deploy (through the one callback
``ApplyRequest``), makes one commit per deploy in order, and pushes, in ONE atomic push, the
branch, the deletion of every pending ref it carried and a result ref
(``refs/gitops-release/result/<id>``) per carried deploy: the commit that carries it, or why it
was refused. Each waiting receiver reads its result and reports it as its own.

Nothing is lost when a carrier dies: its push is atomic, so the pending refs stay until the next
carrier takes them. A remote that refuses refs outside ``refs/heads/`` gets today's retry loop.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gitops_release.errors import (
    GitError,
    GitopsReleaseError,
    PushContentionError,
    RefusedError,
)
from gitops_release.gitops import Author, Git, NewCommit, Upstream, write_commits

NAMESPACE = "refs/gitops-release"
PENDING = f"{NAMESPACE}/pending/"
RESULT = f"{NAMESPACE}/result/"
MIRROR = "refs/gitops-release-seen/"  # this clone's copy of the remote's pending refs
REQUEST_FILE = "request.json"
RENDERS_FILE = "renders.json"  # the renders its own plan made, for the carrier's proof
MAX_REQUEST = 64 * 1024
MAX_RENDERS = 4 * 1024 * 1024
BATCH = 40  # deploys one push carries at most: a carry stays short, the queue moves
KEEP = 3600.0  # seconds a result ref is kept for its receiver to read
# A receiver's fetches: no tags, no FETCH_HEAD, no housekeeping run after each (a wave's
# receivers fetch hundreds of times; a runner's clone is thrown away), no submodules (a fetch
# that may recurse reads the whole index to find them, three times in a sparse checkout).
QUIET_FETCH = ("--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-maintenance",
               "--no-recurse-submodules")
BOT = Author("gitops-release", "gitops-release@localhost")  # of the pending and result refs


@dataclass(frozen=True)
class Request:
    """One deploy, as another receiver can re-run it: the event and the receiver inputs (every
    input but the token and the push settings), all strings as the action received them."""

    event: str
    inputs: Mapping[str, str]
    id: str = ""

    def to_json(self) -> str:
        return json.dumps({"event": self.event, "inputs": dict(self.inputs)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, request_id: str) -> Request:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
            raise ValueError("not a request object")
        inputs = data["inputs"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
            raise ValueError("inputs must be strings")
        return cls(str(data.get("event", "")), inputs, request_id)


@dataclass(frozen=True)
class Applied:
    """What the callback did for one request in the work tree: the files it wrote (empty: nothing
    to change), and what the commit needs."""

    files: tuple[str, ...]
    message: str
    author: Author
    previous_image: str = ""


# Plan ``request`` on the work tree as it is now, with every check of a deploy; write its files
# (journaled) and return them. The flag: it is this receiver's own deploy (not one it carries
# for another receiver, even one with the same inputs). Raises RefusedError for a refusal,
# GitopsReleaseError for an error; in both cases it has written nothing.
ApplyRequest = Callable[[Request, bool], Applied]


@dataclass(frozen=True)
class Sharing:
    """What a queued deploy hands to its carrier so that the wave is not planned twice over: it
    plans itself before queueing (``check``: plan ``request`` on the work tree as it is, write
    nothing; raises like ApplyRequest), attaches what that plan rendered (``export``: text, ''
    for none), and the carrier takes it (``take``) before re-planning; a render is reused only
    for exactly the same input, so the carrier's plan and proof are its own."""

    check: Callable[[Request], None]
    export: Callable[[], str]
    take: Callable[[str], object]


@dataclass(frozen=True)
class Options:
    timeout: float  # seconds until a deploy gives up
    poll: tuple[float, float] = (0.2, 2.0)  # first and longest wait between looks at the remote
    stale: float = 10.0  # + 0.5 s per deploy of a batch: no progress for that long, and the
    # next in line carries too


@dataclass
class Outcome:
    """How one deploy ended: landed (``commit``), nothing to change, refused or failed."""

    status: str  # "landed" | "unchanged" | "refused" | "error"
    commit: str = ""
    files: tuple[str, ...] = ()
    previous_image: str = ""
    message: str = ""
    reason: str = ""
    title: str = ""  # a refusal's title, e.g. "Downgrade refused"
    carried: int = 0  # deploys in the push that landed it
    carrier: str = ""  # the carrying receiver's request id; "" when this receiver pushed
    attempts: int = 0
    error: GitopsReleaseError | None = None  # this receiver's own error, raised after the push

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "commit": self.commit, "files": list(self.files),
                "previous_image": self.previous_image, "message": self.message,
                "reason": self.reason, "title": self.title, "carried": self.carried, "carrier": self.carrier}


class Unsupported(Exception):
    """The remote refuses refs outside refs/heads/: group commit cannot work there."""


@dataclass
class Entry:
    request: Request
    ref_sha: str = ""  # the pending ref's value ('' for the carrier's own, unpublished deploy)
    outcome: Outcome = field(default_factory=lambda: Outcome("error"))


def _blob(out: bytes) -> tuple[int, bytes, bytes]:
    """The next object of a ``cat-file --batch`` answer: (size or -1 when missing, content,
    the rest)."""
    header, _, out = out.partition(b"\n")
    parts = header.split()
    size = int(parts[2]) if len(parts) == 3 and parts[1] == b"blob" else -1
    return (size, out[:size], out[size + 1:]) if size >= 0 else (-1, b"", out)


def new_id() -> str:
    """Sortable by time of arrival, unique across runners."""
    return f"{time.time_ns():020d}-{os.urandom(4).hex()}"


def _id_time(pending_id: str) -> float:
    """When the pending deploy was queued (seconds since the epoch); 0 when unreadable."""
    head = pending_id.split("-", 1)[0]
    return int(head) / 1e9 if head.isdigit() else 0.0


class GroupCommit:
    """One receiver's side of group commit."""

    def __init__(self, git: Git, up: Upstream, apply: ApplyRequest, options: Options,
                 log: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
                 sharing: Sharing | None = None) -> None:
        self.git, self.up, self.apply, self.opts, self.log = git, up, apply, options, log
        self.sharing = sharing
        self.sleep = sleep
        self.attempts = 0
        self.expired: dict[str, str] = {}  # result refs older than KEEP → their value
        self.deadline = time.monotonic() + options.timeout

    def deliver(self, own: Request) -> Outcome:
        """Land ``own``: directly when the branch is free, else through the pending queue.
        Raises Unsupported when the remote refuses our refs (the caller falls back)."""
        pending = self._fetch(first=True)
        if not pending:
            done = self._carry([Entry(own)], own)
            if done is not None:
                return done
        elif self.sharing is not None:
            ended = self._check(own, self.sharing)  # a refusal or an error needs no queue
            if ended is not None:
                return ended
        own = Request(own.event, own.inputs, new_id())
        sha = self._publish(own)
        try:
            return self._wait(own, sha)
        except PushContentionError:
            if not self._withdraw(own, sha) and self._look(own.id)[2]:
                return self._read_result(own.id)  # carried just now
            raise
        except BaseException:
            self._withdraw(own, sha)
            raise

    def _check(self, own: Request, sharing: Sharing) -> Outcome | None:
        """Plan our deploy on the branch's tip before queueing it (nothing written)."""
        tip = self.git.rev(self.up.tracking)
        if self.git.rev("HEAD") != tip:
            self.git.move_to(tip)
        try:
            sharing.check(own)
        except RefusedError as exc:
            return Outcome("refused", message=str(exc), reason=exc.reason, title=exc.title)
        except GitopsReleaseError as exc:
            return Outcome("error", message=f"{exc.title}: {exc}", error=exc)
        return None

    # -- waiting -------------------------------------------------------------------------------
    def _wait(self, own: Request, sha: str) -> Outcome:
        delay, seen, progress = self.opts.poll[0], ("", ""), 0.0
        while time.monotonic() < self.deadline:
            self.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not security
            tip, ids, result = self._look(own.id)
            if result:
                return self._read_result(own.id)
            if own.id not in ids:
                raise GitError(f"the pending deploy {PENDING}{own.id} was removed without a result",
                               hint="Something else deleted it; run the job again")
            place = ids.index(own.id)
            delay = self._next_delay(place, len(ids), delay)
            if (tip, ids[0]) != seen:  # a carry landed (or the queue's head changed)
                seen, progress = (tip, ids[0]), time.time()
            if place > self._stalled(ids, progress):
                continue
            entries = [Entry(r, s) for r, s in self._pending_requests(self._fetch()[:BATCH])]
            done = self._carry(entries, own) if entries else None
            if done is not None:
                return done
            delay = self.opts.poll[0]
        raise PushContentionError(
            f"the deploy did not land on {self.up.remote}/{self.up.branch} within "
            f"{self.opts.timeout:.0f} s", input_name="push-timeout",
            hint="Raise push-timeout; a wave of deploys queues behind the one carrying it")

    def _next_delay(self, place: int, queued: int, delay: float) -> float:
        """The wait before the next look at the remote, at ``place`` in a queue of ``queued``.

        A long queue takes a while to carry: the further back, the less often (the more pushes
        must land before ours can; one carries BATCH), so the waiting receivers leave the remote
        (and a shared machine) to the one carrying. Except where the next carrier is: the wave
        waits for it to see that its turn came. That is the deploy right after the batch being
        carried (at most BATCH + 1 in line, fewer when the carrier found a shorter queue) and,
        for the pushes after that one, those about a multiple of BATCH further back, which
        move up by a batch with every push: they look as often as the first in line."""
        low, high = self.opts.poll
        turn_near = place <= BATCH + 1 or place % BATCH <= 2 or place % BATCH >= BATCH - 2
        longest = high if turn_near else max(high, 0.05 * queued, 2.0 * (place // BATCH))
        return max(low, min(longest, delay * 1.5))

    def _stalled(self, ids: list[str], progress: float) -> int:
        """How many deploys at the head of the queue made no progress for too long: the first
        in line carries; each further ``patience`` without progress (its receiver died or is
        stuck) lets one more in line carry too."""
        patience = self.opts.stale + 0.5 * min(len(ids), BATCH)
        since = max(_id_time(ids[0]), progress)
        return int((time.time() - since) // patience)

    def _look(self, own_id: str) -> tuple[str, list[str], bool]:
        """The remote's tip, the pending ids in order, and whether our result is there (and
        notes the result refs old enough for a carrier to remove)."""
        out = self.git.out("ls-remote", "--", self.up.remote, f"refs/heads/{self.up.branch}",
                           f"{NAMESPACE}/*")
        tip, ids, result = "", [], False
        self.expired = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{self.up.branch}":
                tip = sha
            elif ref.startswith(PENDING):
                ids.append(ref[len(PENDING):])
            elif ref == f"{RESULT}{own_id}":
                result = True
            elif ref.startswith(RESULT) and time.time() - _id_time(ref[len(RESULT):]) > KEEP:
                self.expired[ref] = sha
        return tip, sorted(ids), result

    def _read_result(self, own_id: str) -> Outcome:
        local = f"{MIRROR}result/{own_id}"
        self.git.run("fetch", *QUIET_FETCH, "--", self.up.remote, f"+{RESULT}{own_id}:{local}")
        data = json.loads(self.git.out("show", f"{local}:{own_id}.json"))
        self.git.run("update-ref", "-d", local)  # the remote's copy: a later carrier removes it
        if data["status"] == "error":
            raise GitError(f"this deploy failed when another deploy's push carried it: "
                           f"{data['message']}", hint="Nothing of it was pushed. Fix the cause "
                           "and run the job again")
        return Outcome(str(data["status"]), str(data["commit"]),
                       tuple(str(f) for f in data["files"]), str(data["previous_image"]),
                       str(data["message"]), str(data["reason"]), str(data.get("title", "")),
                       int(data["carried"]), str(data["carrier"]), self.attempts)

    # -- the remote's refs ---------------------------------------------------------------------
    def _fetch(self, first: bool = False) -> list[tuple[str, str]]:
        """Fetch the branch and the pending refs; returns [(id, sha)] in order of arrival."""
        before = self.git.run("rev-parse", "--verify", "--quiet", self.up.tracking,
                              check=False).stdout.strip()
        self.git.run("fetch", *QUIET_FETCH, "--prune", "--", self.up.remote,
                     f"+refs/heads/{self.up.branch}:{self.up.tracking}",
                     f"+{PENDING}*:{MIRROR}pending/*")
        if first:
            self.git.ensure_pushed(self.up, before)
        out = self.git.out("for-each-ref", "--format=%(objectname) %(refname)", f"{MIRROR}pending/")
        pairs = [(ref.rsplit("/", 1)[1], sha) for sha, _, ref in
                 (line.partition(" ") for line in out.splitlines())]
        return sorted(pairs)

    def _pending_requests(self, pending: list[tuple[str, str]]) -> list[tuple[Request, str]]:
        """Read every pending ref's request and shared renders (one ``cat-file --batch``)."""
        names = (REQUEST_FILE, RENDERS_FILE) if self.sharing is not None else (REQUEST_FILE,)
        out = self.git.feed(["cat-file", "--batch"], "".join(
            f"{sha}:{name}\n" for _, sha in pending for name in names).encode()) if pending else b""
        requests = []
        for pid, sha in pending:
            size, text, out = _blob(out)
            if self.sharing is not None:
                renders_size, renders, out = _blob(out)
                if 0 <= renders_size <= MAX_RENDERS:
                    self.sharing.take(renders.decode("utf-8", errors="replace"))
            try:
                if not 0 <= size <= MAX_REQUEST:
                    raise ValueError("missing or too large")
                requests.append((Request.from_json(text.decode("utf-8"), pid), sha))
            except ValueError as exc:
                self.log(f"{PENDING}{pid} holds no valid request ({exc}); it is answered with an "
                         "error")
                requests.append((Request("", {}, pid), sha))
        return requests

    def _publish(self, own: Request) -> str:
        """Push our request as a pending ref; Unsupported when the remote refuses it."""
        files = {REQUEST_FILE: own.to_json()}
        shared = self.sharing.export() if self.sharing is not None else ""
        if shared and len(shared.encode()) <= MAX_RENDERS:
            files[RENDERS_FILE] = shared
        sha = self._object(f"Pending deploy {own.id}", files)
        self.attempts += 1
        result = self.git.run("push", "--porcelain", "--", self.up.remote,
                              f"{sha}:{PENDING}{own.id}", check=False)
        if result.returncode != 0:
            lines = [line.strip() for line in (result.stderr + result.stdout).splitlines()
                     if line.startswith(("remote:", "!", "fatal:"))]
            raise Unsupported(f"the remote refused {PENDING}{own.id}: "
                              + " ".join(lines or result.stderr.strip().splitlines()[-1:]))
        self.log(f"lost the race; queued as {PENDING}{own.id} for the next push to carry")
        return sha

    def _withdraw(self, own: Request, sha: str) -> bool:
        """Remove our pending ref when we stop waiting; False when a carrier took it first."""
        return self.git.run("push", "--quiet", f"--force-with-lease={PENDING}{own.id}:{sha}",
                            "--", self.up.remote, f":{PENDING}{own.id}",
                            check=False).returncode == 0

    def _object(self, subject: str, files: Mapping[str, str]) -> str:
        """A parentless commit holding ``files`` (name → text)."""
        return write_commits(self.git, [NewCommit("", subject, BOT, {
            name: ("100644", text.encode()) for name, text in files.items()})], chain=False)[0]

    # -- carrying ------------------------------------------------------------------------------
    def _carry(self, entries: list[Entry], own: Request) -> Outcome | None:
        """Re-plan every entry on the tip, one commit each, and push them all at once with the
        deletion of their pending refs. None when the push lost a race."""
        tip, head = self.git.revs(self.up.tracking, "HEAD")
        if head != tip:
            self.git.move_to(tip)
        self.git.cache_index(True, whole=len(entries) > 1)
        try:
            commits = self._apply_all(entries, own)
        finally:
            self.git.cache_index(False)
        mine = next((e for e in entries if e.request.id == own.id), None)
        landed = [e for e in entries if e.outcome.status == "landed"]
        published = [e for e in entries if e.ref_sha]
        if not landed and not published:
            return mine.outcome if mine else None
        head = tip
        if commits:
            shas = write_commits(self.git, [NewCommit(tip, *c) for c in commits], chain=True)
            head = shas[-1]
            for entry, sha in zip(landed, shas, strict=True):
                entry.outcome.commit = sha
                entry.outcome.carried = len(landed)
            self.git.run("update-ref", "-m", f"gitops-release: {len(shas)} deploys", "HEAD",
                         shas[-1], tip)
            self.git.run("add", "--force", "--",  # tracked (checked): even in an ignored folder
                         *sorted({f for e in landed for f in e.outcome.files}))
        self.attempts += 1
        if not self._push_group(tip, head, published, own):
            self.log(f"push attempt {self.attempts} (carrying {len(landed)} deploy"
                     f"{'s' if len(landed) != 1 else ''}) lost a race; retrying")
            self.git.move_to(tip)  # drop the chain: the clone stays on a commit of the remote
            return None
        if mine is None:  # carried the head of the queue; ours comes with a later push
            self.log(f"carried {len(published)} queued deploys; this one is further back")
            return None
        mine.outcome.attempts = self.attempts
        return mine.outcome

    def _apply_all(self, entries: list[Entry], own: Request) -> list[tuple[str, Author, dict[
            str, tuple[str, bytes]]]]:
        """Apply every entry in order in the work tree; returns the commits to write."""
        commits = []
        for entry in entries:
            entry.outcome, applied = self._apply(entry.request, entry.request.id == own.id)
            if applied is not None:
                modes = self.git.index_entries(applied.files)
                commits.append((applied.message, applied.author, {  # a new file: 100644
                    f: (modes[f][1] if f in modes else "100644", (self.git.cwd / f).read_bytes())
                    for f in applied.files}))
        return commits

    def _apply(self, request: Request, mine: bool) -> tuple[Outcome, Applied | None]:
        try:
            if not request.inputs:
                raise GitError("the pending ref holds no valid request")
            applied = self.apply(request, mine)
        except RefusedError as exc:
            return Outcome("refused", message=str(exc), reason=exc.reason, title=exc.title), None
        except GitopsReleaseError as exc:
            return Outcome("error", message=f"{exc.title}: {exc}", error=exc), None
        if not applied.files:
            return Outcome("unchanged", previous_image=applied.previous_image), None
        return Outcome("landed", "", applied.files, applied.previous_image), applied

    def _push_group(self, tip: str, head: str, published: list[Entry], own: Request) -> bool:
        """One atomic push: the branch (if it moved to ``head``), the carried pending refs
        deleted, a result ref for every carried deploy but ours. False when it lost a race."""
        specs: list[str] = []
        if head != tip:
            specs.append(f"{head}:refs/heads/{self.up.branch}")
        others = [e for e in published if e.request.id != own.id]
        if others:
            results = {f"{e.request.id}.json": json.dumps(
                {**e.outcome.to_json(), "carrier": own.id or "direct"}) for e in others}
            sha = self._object("Deploy results", results)
            specs += [f"{sha}:{RESULT}{e.request.id}" for e in others]
        leases = [f"--force-with-lease={PENDING}{e.request.id}:{e.ref_sha}" for e in published]
        specs += [f":{PENDING}{e.request.id}" for e in published]
        # Results nobody read within KEEP (their receiver gave up or died) go with this push.
        leases += [f"--force-with-lease={ref}:{sha}" for ref, sha in self.expired.items()]
        specs += [f":{ref}" for ref in self.expired]
        return self.git.push_refs(self.up, specs, leases)
