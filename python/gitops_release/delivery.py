"""The receiver's write path: validate, then plan, write, commit and push as one transaction.

``run`` checks what git will be given (the identity, by git's own rules) before anything is
touched, then, inside a ``Transaction`` (restored on any failure or signal), delivers the deploy:
by group commit, by the plain push loop where the remote refuses our refs (or ``group-commit:
false``), or as a local commit (``push: false``). Planning is the receiver module's; it is reached
through one callback, ``Applier``, so a carrier can re-plan another deploy's request.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from gitops_release.discovery import Tree
from gitops_release.errors import InputError, RefusedError
from gitops_release.gitops import (
    Git,
    NewCommit,
    check_identity,
    index_listing,
    plain_identity,
    prepare_commits,
    push_loop,
)
from gitops_release.groupcommit import (
    Applied,
    ApplyRequest,
    GroupCommit,
    Options,
    Outcome,
    Request,
    Sharing,
    Unsupported,
)
from gitops_release.inputs import parse_bool, parse_int
from gitops_release.receiver import (
    ExtraChanges,
    Plan,
    Settings,
    commit_message,
    notices,
    parse_settings,
    plan_deploy,
    prerender,
    refused_error,
    settle_prerender,
    summary,
    write_files,
)
from gitops_release.receiverspec import receiver_inputs
from gitops_release.runner import Runner, md_escape
from gitops_release.transaction import Transaction


def _report(runner: Runner, outcome: Outcome, *, pushed: bool, would_change: bool,
            previous_image: str) -> None:
    runner.set_outputs({
        "changed": "true" if pushed and outcome.status == "landed" else "false",
        "would-change": "true" if would_change else "false",
        "files": "\n".join(outcome.files),
        "commit": outcome.commit,
        "previous-image": outcome.previous_image or previous_image,
        "refused": "true" if outcome.status == "refused" else "false",
        "refused-reason": outcome.reason if outcome.status == "refused" else "",
    })


def _show_diff(runner: Runner, plan: Plan) -> None:
    with runner.group(f"Diff ({len(plan.changed)} file{'s' if len(plan.changed) != 1 else ''})"), \
            runner.verbatim():
        runner.info(plan.diff().rstrip("\n"))


@dataclass(frozen=True)
class PushSettings:
    """How a deploy reaches the remote (inputs that are not part of a carried request)."""

    group_commit: bool
    timeout: float


NOT_CARRIED = frozenset({"token", "push", "dry-run", "max-attempts", "push-timeout",
                         "group-commit"})
EVENTS = ("new-image", "new-job-image")


def _push_settings(raw: Mapping[str, str]) -> PushSettings:
    return PushSettings(group_commit=parse_bool("group-commit", raw["group-commit"]),
                        timeout=parse_int("push-timeout", raw["push-timeout"], minimum=10,
                                          maximum=3600))


def _widened(git: Git, root: Path, paths: list[str]) -> list[str]:
    """Add the folders of ``paths`` to the sparse checkout ``root`` is (the token reaches the
    fetch of their files through git's environment, never its command line); the index listing
    kept is asked again. Returns the folders added."""
    from gitops_release import sparse

    git.settle()  # the clean check running in the background passes before the work tree grows
    added = sparse.widen(root, paths, env=git.env, checked=True)
    if added:
        git.forget_index()
    return added


def _commit_ahead(git: Git, s: Settings) -> Callable[[Tree, Mapping[str, str]], None]:
    """While the render that proves the planned edit runs, write the commit the deploy makes if
    the proof holds, on HEAD (``gitops.prepare_commits``): the push then waits for no
    ``git fast-import``. Only an edit of tracked files; any other case is left to the deploy."""
    message = commit_message(s)

    def ready(tree: Tree, texts: Mapping[str, str]) -> None:
        files = {rel: tree.files[rel].on_disk(text).encode("utf-8")
                 for rel, text in texts.items() if rel in tree.files}
        if not files or len(files) != len(texts) or not plain_identity(s.author):
            return
        # plain git processes: Git.run's signal handling belongs to the main thread
        listed = subprocess.run(["git", "ls-files", "-z", "-s", "-v", "--", *files], cwd=git.cwd,
                                env=git.env, capture_output=True, text=True, check=False)
        modes = {path: mode for path, (_, mode) in index_listing(listed.stdout).items()}
        head = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
                              cwd=git.cwd, env=git.env, capture_output=True, text=True,
                              check=False).stdout.strip()
        if head and modes.keys() == files.keys():
            prepare_commits(git.cwd, git.env, [NewCommit(head, message, s.author, {
                rel: (modes[rel], data) for rel, data in files.items()})], chain=True)

    return ready


def _app_folder(path: str) -> str:
    """The app's folder of an overlay path: ``apps/<name>`` for ``apps/<name>/overlays/<env>``,
    as the receiver workflows check it out."""
    parts = path.strip("/").split("/")
    return "/".join(parts[: parts.index("overlays")]) if "overlays" in parts[1:] else \
        "/".join(parts)


@dataclass(frozen=True)
class Own:
    """What only this receiver's own deploy carries (never a carried one): a config-repo
    command's extra changes and trailers, and the token for the policy's source check."""

    extra: ExtraChanges | None = None
    trailers: tuple[tuple[str, str], ...] = ()
    token: str = ""


class Applier:
    """The one callback group commit re-plans any deploy through (``__call__``, an
    ApplyRequest): the receiver inputs of a request are parsed, planned on the work tree as it is
    now and checked (the render proof, the policy and the downgrade guard), then written,
    journaled, to tracked files only. ``check`` plans without writing (a deploy about to queue)."""

    def __init__(self, root: Path, git: Git, txn: Transaction, environ: Mapping[str, str],
                 own: Own | None = None) -> None:
        self.root, self.git, self.txn, self.environ, self.own = root, git, txn, environ, own
        self.own_plan: Plan | None = None  # the latest plan of this receiver's own deploy
        self.defaults = {spec.name: spec.default for spec in receiver_inputs("Deploy {release}")}

    def _plan(self, request: Request, mine: bool) -> tuple[Settings, Plan, ExtraChanges | None]:
        if request.event not in EVENTS:
            raise InputError(f"{request.event!r} is not a receiver event", input_name="event")
        own = self.own
        mine = mine and own is not None
        s = parse_settings({**self.defaults, **request.inputs,
                            "token": own.token if mine and own else ""}, request.event)
        if mine and own is not None and own.trailers:
            s = replace(s, trailers=s.trailers + own.trailers)
        extra = own.extra if mine and own is not None else None
        from gitops_release import sparse

        sparse_checkout = sparse.is_sparse(self.root)  # while renders started ahead may run
        if sparse_checkout:  # a carrier plans other apps' queued deploys too
            self._widen([_app_folder(s.path)])
        settle_prerender()
        plan = plan_deploy(self.root, s, self.environ, operator=bool(extra and extra.operator),
                           widen=self._widen if sparse_checkout else None)
        if mine:  # what the summary shows; a carried deploy's plan is its own receiver's
            self.own_plan = plan
        if plan.refusal is not None:
            raise refused_error(plan.refusal)
        return s, plan, extra

    def _widen(self, paths: list[str]) -> list[str]:
        return _widened(self.git, self.root, paths)

    def check(self, request: Request) -> None:
        self._plan(request, True)

    def __call__(self, request: Request, mine: bool) -> Applied:
        s, plan, extra = self._plan(request, mine)
        root = self.root
        changed = plan.changed + [c for c in (extra.plan(root) if extra else []) if c.changed]
        files = [plan.shown(c) for c in changed]
        if files:
            new = [f for f in files if not (root / f).exists()]  # e.g. a first policy file
            self.git.check_targets([f for f in files if f not in new])  # before: nothing to undo
            self.txn.will_write(files, created=new)
            if not plain_identity(s.author):  # this receiver's own was checked by git already
                raise InputError(f"git would not record {s.author.name!r} <{s.author.email}> "
                                 "as given", input_name="git-user-name")
            write_files(changed)
        previous = plan.overlays[0].previous_image if plan.overlays else ""
        return Applied(tuple(files), commit_message(s), s.author, previous)


def _sharing(apply: Applier) -> Sharing:
    """Renders travel with a queued deploy to its carrier (see groupcommit.Sharing)."""
    from gitops_release import render

    return Sharing(apply.check, render.export_renders, render.import_renders)


def _push(git: Git, s: Settings, opts: PushSettings, own: Request, apply: Applier,
          runner: Runner) -> Outcome:
    """Deploy onto the upstream branch: group commit, else (or where the remote refuses our
    refs) the plain push loop, both bounded by push-timeout."""
    up = git.upstream()
    if opts.group_commit:
        try:
            outcome = GroupCommit(git, up, apply, Options(opts.timeout), runner.info,
                                  sharing=_sharing(apply)).deliver(own)
        except Unsupported as exc:
            runner.warning(f"{exc}. Group commit is off for this deploy: it retries alone "
                           f"(up to max-attempts)", title="Group commit unavailable")
        else:
            if outcome.error is not None:
                raise outcome.error
            return outcome
    fell_back = opts.group_commit
    applied: list[Applied] = []

    def own_files() -> list[str] | None:
        applied[:] = [apply(own, True)]
        return list(applied[0].files) or None

    try:
        pushed = push_loop(git, up, own_files, commit_message(s), s.author, s.max_attempts,
                           runner.info, deadline=time.monotonic() + opts.timeout,
                           checked=fell_back)
    except RefusedError as exc:
        return Outcome("refused", message=str(exc), reason=exc.reason, title=exc.title)
    previous = applied[0].previous_image if applied else ""
    if pushed is None:
        return Outcome("unchanged", previous_image=previous)
    return Outcome("landed", pushed.commit, applied[0].files, previous, attempts=pushed.attempts,
                   carried=1)


def _commit_locally(git: Git, s: Settings, own: Request, apply: ApplyRequest) -> Outcome:
    """push: false commits on the checked-out branch, never pushes."""
    try:
        applied = apply(own, True)
    except RefusedError as exc:
        return Outcome("refused", message=str(exc), reason=exc.reason, title=exc.title)
    if not applied.files:
        return Outcome("unchanged", previous_image=applied.previous_image)
    commit = git.commit(commit_message(s), list(applied.files), s.author)
    return Outcome("landed", commit, applied.files, applied.previous_image)


def _dry_run(git: Git, s: Settings, root: Path, environ: Mapping[str, str]) -> tuple[Plan, Outcome]:
    from gitops_release import sparse

    settle_prerender()
    plan = plan_deploy(root, s, environ, widen=(lambda paths: _widened(git, root, paths))
                       if sparse.is_sparse(root) else None)
    if plan.refusal is not None:
        exc = refused_error(plan.refusal)
        return plan, Outcome("refused", message=str(exc), reason=exc.reason, title=exc.title)
    files = tuple(plan.shown(c) for c in plan.changed)
    git.check_targets(list(files))
    return plan, Outcome("unchanged", files=files)


def run(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str], event: str,
        root: Path | None = None, *, extra: ExtraChanges | None = None,
        extra_trailers: tuple[tuple[str, str], ...] = ()) -> None:
    """Run a receiver command: the whole deploy, or nothing (the clone restored)."""
    s = parse_settings(raw, event)
    trailers = (extra.trailers if extra is not None else ()) + extra_trailers
    if trailers:
        s = replace(s, trailers=s.trailers + trailers)
    opts = _push_settings(raw)
    if s.token:
        runner.mask(s.token)
    root = root or Path.cwd()
    runner.info(f"deploying {s.target.release} ({s.target.image}) to {s.path}")
    git = Git(root, environ, s.token, environ.get("GITHUB_SERVER_URL") or "https://github.com")
    # overlaps the proof's renders (and, ahead of the proof, writing its commit) with the git
    # work below
    prerender(root, s, _commit_ahead(git, s) if s.push and opts.group_commit and not s.dry_run
              else None)  # the plain push loop commits through the index (Git.commit)
    try:
        check_identity(git, s.author)
        if s.dry_run:
            plan, outcome = _dry_run(git, s, root, environ)
            _finish(runner, s, plan, outcome, mode="dry-run")
            return
        own = Request(event, {k: v for k, v in raw.items() if k not in NOT_CARRIED})
        with Transaction.open(git, runner.warning) as txn:
            apply = Applier(root, git, txn, environ, Own(extra, trailers, s.token))
            outcome = _push(git, s, opts, own, apply, runner) if s.push else \
                _commit_locally(git, s, own, apply)
    finally:
        settle_prerender(final=True)  # no render left running, no scratch copy
    _finish(runner, s, apply.own_plan, outcome, mode="push" if s.push else "local")


def _finish(runner: Runner, s: Settings, plan: Plan | None, outcome: Outcome, mode: str) -> None:
    """Annotations, summary and outputs of a finished deploy."""
    plan = plan if outcome.carrier == "" else None
    previous = plan.overlays[0].previous_image if plan and plan.overlays else ""
    if outcome.status == "refused":
        runner.notice(outcome.message, title=outcome.title or "Deploy refused")
        _summary(runner, s, plan, outcome,
                 f"Refused ({outcome.reason}): {md_escape(outcome.message)}", refused=True)
        _report(runner, outcome, pushed=False, would_change=False, previous_image=previous)
        return
    if plan is not None:
        notices(plan, s, runner)
    for skipped in plan.skipped if plan else []:
        runner.warning(skipped, title="Fan-out skipped")
    would_change = bool(outcome.files) or bool(plan and plan.changed and mode == "dry-run")
    if plan and plan.changed and (outcome.files or mode == "dry-run"):
        _show_diff(runner, plan)
    elif not would_change:
        runner.info("nothing to change: the overlay already runs this image and release")
    note = _note(outcome, mode)
    if mode == "push":
        runner.info(f"push attempts by this deploy: {outcome.attempts}")
    if mode == "push" and outcome.status == "landed":
        runner.info(f"pushed {outcome.commit} ({note})")
    elif mode == "local" and outcome.commit:
        runner.notice(note, title="Not pushed")
    _summary(runner, s, plan, outcome, note)
    _report(runner, outcome, pushed=mode == "push", would_change=would_change,
            previous_image=previous)


def _note(outcome: Outcome, mode: str) -> str:
    if mode == "dry-run":
        return "Dry run: nothing written."
    if mode == "local":
        return (f"push: false: committed {outcome.commit} in this clone only; nothing reached "
                "the remote, so changed is false" if outcome.commit else "")
    if outcome.status != "landed":
        return ""
    if outcome.carrier:
        return (f"carried by another deploy's push ({outcome.carried} deploy"
                f"{'s' if outcome.carried != 1 else ''} in that push)")
    return (f"this push carried {outcome.carried} deploy{'s' if outcome.carried != 1 else ''}"
            f"; {outcome.attempts} push attempt{'s' if outcome.attempts != 1 else ''}")


def _summary(runner: Runner, s: Settings, plan: Plan | None, outcome: Outcome, note: str,
             refused: bool = False) -> None:
    if plan is not None:
        summary(runner, s, plan, outcome.commit, note=note, refused=refused)
        return
    verb = "Refused" if refused else "Deployed" if outcome.commit else "Deploy"
    lines = [f"### {verb} `{md_escape(s.target.release)}`",
             ""] + ([note, ""] if note else [])
    lines += [f"- {md_escape(name)}" for name in outcome.files]
    if outcome.commit:
        lines += ["", f"Commit: `{outcome.commit}`"]
    runner.summary("\n".join(lines) + "\n")
