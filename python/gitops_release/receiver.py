"""The receiver: plan a deploy over the overlay (and its prod-* siblings), check that it moves
forward, write every file only after all were planned, commit and push.

Shared by ``image-update`` (new-image: Deployment, Rollout, StatefulSet, DaemonSet) and
``cronjob-update`` (new-job-image: CronJob, Job); both fall back to Helm ``values.yaml`` and
kustomization ``images:``.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_release import yamledit as y
from gitops_release.discovery import (
    BOM,
    KUSTOMIZATION_FILES,
    Tracked,
    Tree,
    absent_paths,
    discover,
)
from gitops_release.errors import (
    DowngradeError,
    GitopsReleaseError,
    InputError,
    ManifestError,
    PathError,
    RefusedError,
    ResourceError,
)
from gitops_release.inputs import check_text, parse_bool, parse_int
from gitops_release.manifests import (
    BuildsOnError,
    FileChange,
    OutsideOverlayError,
    OverlayPlan,
    Refusal,
    Target,
    check_dependents,
    render_ahead,
)
from gitops_release.paths import check_relative, fan_out_siblings, resolve_overlay
from gitops_release.payload import (
    Source,
    parse_source_text,
    validate_deployment_id,
    validate_image,
    validate_path,
    validate_payload_digest,
    validate_release,
)
from gitops_release.planner import apply_settings, plan_overlay, policy_refusal
from gitops_release.policy import Hold, Running
from gitops_release.policyfile import load_policy
from gitops_release.receiverspec import (
    CONTAINER_RE,
    ENV_NAME_RE,
    KEY_RE,
    VALUES_FILE_RE,
    WORKLOAD_RE,
)
from gitops_release.reference import ImageReference
from gitops_release.runner import Runner, md_escape
from gitops_release.targets import KINDS as KIND_GROUPS
from gitops_release.targets import NoAppWorkload
from gitops_release.versions import Order, compare

if TYPE_CHECKING:
    from gitops_release.gitops import Author

KINDS = {"new-image": KIND_GROUPS["workloads"], "new-job-image": KIND_GROUPS["jobs"]}


@dataclass(frozen=True)
class Settings:
    """A receiver's inputs, validated."""

    event: str
    target: Target
    path: str
    config_root: str
    fan_out: bool
    allow_downgrade: bool
    push: bool
    dry_run: bool
    commit_message: str
    author: Author
    max_attempts: int
    trailers: tuple[tuple[str, str], ...]
    token: str
    source: Source | None = None


def _match(regex: re.Pattern[str], name: str, value: str, what: str) -> str:
    check_text(name, value, max_length=256)
    if not regex.fullmatch(value):
        raise InputError(f"{value!r} is not {what}", input_name=name)
    return value


def _image(raw: Mapping[str, str]) -> ImageReference:
    """image and digest, checked by the payload contract the sender builds them with."""
    image = validate_image(raw["image"], "image")
    digest = raw["digest"].strip()
    if digest:
        validate_payload_digest(digest, "digest")
        if image.digest and image.digest != digest:
            raise InputError(f"{digest!r} differs from the digest in the image", input_name="digest",
                             hint="Give the digest once, or the same one in both")
        image = ImageReference(image.name, image.tag, digest)
    return image


def _source(raw: str) -> Source | None:
    if raw.strip() in ("", "null", "{}"):
        return None
    check_text("source", raw, multiline=True, max_length=8192)  # toJSON() pretty-prints
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and "deployment_id" in data:
        try:  # a bad id only costs the status report (deployments.py warns), never the deploy
            validate_deployment_id(data["deployment_id"], "source.deployment_id")
        except InputError:
            del data["deployment_id"]
            raw = json.dumps(data)
    return parse_source_text(raw, "source")


def _source_trailers(source: Source | None) -> tuple[tuple[str, str], ...]:
    names = {"repository": "Source-Repository", "sha": "Source-Sha", "ref": "Source-Ref",
             "run_url": "Source-Run"}
    items = source.to_json().items() if source is not None else ()
    return tuple((names[key], str(value)) for key, value in items if key in names)


def _values_file(raw: str) -> str:
    value = raw.strip()
    return _match(VALUES_FILE_RE, "helm-values-file", value, "the name of a values file in the "
                  "path folder, e.g. values-prod.yaml") if value else ""


def parse_settings(raw: Mapping[str, str], event: str) -> Settings:
    image = _image(raw)
    release = validate_release(raw["release"].strip(), "release")
    name, version = release.rsplit("@", 1)
    app = name.rsplit("/", 1)[-1]  # team/web-api@v1 deploys the app web-api
    container = raw["container"].strip()
    if container:
        _match(CONTAINER_RE, "container", container, "a container name (a DNS label)")
    workload = raw.get("workload", "").strip()
    if workload:
        _match(WORKLOAD_RE, "workload", workload, "a workload name (metadata.name)")
    keys = {}
    for key in ("helm-image-key", "helm-tag-key", "helm-registry-key", "helm-digest-key",
                "helm-release-key"):
        value = raw.get(key, "").strip()
        keys[key] = _match(KEY_RE, key, value, "a dotted key such as image.tag") if value else ""
    target = Target(image=image, release=release, app=app, version=version,
                    release_env=_match(ENV_NAME_RE, "release-env", raw["release-env"].strip(),
                                       "an env var name"),
                    container=container, workload=workload,
                    helm_image_key=keys["helm-image-key"], helm_tag_key=keys["helm-tag-key"],
                    helm_registry_key=keys["helm-registry-key"],
                    helm_digest_key=keys["helm-digest-key"],
                    helm_release_key=keys["helm-release-key"],
                    helm_values_file=_values_file(raw.get("helm-values-file", "")))
    path = raw["path"].strip()
    validate_path(path, "path")
    check_relative(path, "path")
    check_relative(check_text("config-root", raw["config-root"].strip(), max_length=1024),
                   "config-root")
    message = check_text("commit-message", raw["commit-message"], max_length=200).strip()
    trailers = [("Image", str(image))] + ([("Digest", image.digest)] if image.digest else [])
    trailers += [("Overlay", path)]
    token = raw["token"].strip()
    check_text("token", token, max_length=1024)
    source = _source(raw["source"])
    from gitops_release.gitops import Author  # git's module loads after the renders started

    return Settings(
        event=event, target=target, path=path, config_root=raw["config-root"].strip(),
        fan_out=parse_bool("fan-out", raw["fan-out"]),
        allow_downgrade=parse_bool("allow-downgrade", raw["allow-downgrade"]),
        push=parse_bool("push", raw["push"]), dry_run=parse_bool("dry-run", raw["dry-run"]),
        commit_message=message or "Deploy {release}",
        author=Author(check_text("git-user-name", raw["git-user-name"], max_length=200),
                      check_text("git-user-email", raw["git-user-email"], max_length=200)),
        max_attempts=parse_int("max-attempts", raw["max-attempts"], minimum=1, maximum=20),
        trailers=tuple(trailers) + _source_trailers(source), token=token, source=source)


@dataclass
class Plan:
    """Every overlay a deploy touches, planned before anything is written."""

    root: Path
    overlays: list[OverlayPlan] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refusal: Refusal | None = None
    # overlays that build on one deployed and take the deploy, with what they ran
    taken: list[Running] = field(default_factory=list)

    @property
    def changes(self) -> list[FileChange]:
        return [c for o in self.overlays for c in o.changes]

    def shown(self, change: FileChange) -> str:
        return change.path.relative_to(self.root).as_posix()

    @property
    def changed(self) -> list[FileChange]:
        return [c for c in self.changes if c.changed]

    def diff(self) -> str:
        out: list[str] = []
        for change in self.changed:
            name = self.shown(change)
            out.extend(difflib.unified_diff(change.old_text.splitlines(keepends=True),
                                            change.new_text.splitlines(keepends=True),
                                            f"a/{name}", f"b/{name}"))
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)


MAX_WIDENINGS = 10  # rounds of folders added to a sparse checkout for one overlay's tree


def plan_deploy(root: Path, s: Settings, environ: Mapping[str, str] | None = None,
                operator: bool = False,
                widen: Callable[[list[str]], list[str]] | None = None) -> Plan:
    """Plan the overlay and, for prod, every prod-* sibling inside config-root, with the policy's
    per-app settings; refuse the whole deploy when one overlay or the policy refuses. ``widen``
    adds folders to a sparse checkout (returns those added): a kustomize tree that reaches
    outside the checked-out folders gets them first, round by round (a base's own bases)."""
    overlay = resolve_overlay(root, s.config_root, s.path)
    _refuse_inside_a_chart(root, overlay)
    policy = load_policy(root)
    if policy.holds:
        found = _hold_folders(root, policy.holds)
        policy = replace(policy, holds=tuple(replace(h, exists=h.path.rstrip("/") in found)
                                             for h in policy.holds))
    plan = Plan(root)
    folders = [overlay] + (fan_out_siblings(overlay, root / s.config_root, plan.skipped)
                           if s.fan_out else [])
    if widen is not None:
        for folder in folders:
            for _ in range(MAX_WIDENINGS):
                absent = absent_paths(root, folder.relative_to(root).as_posix())
                if not absent or not widen(absent):
                    break
    target = apply_settings(s.target, policy, s.path)
    with y.collector_paused():
        refusal = _plan_overlays(plan, root, overlay, folders, target, s)
    if refusal is not None:
        plan.refusal = refusal
        return plan
    if not operator:
        _far_holds(root, policy.holds, plan, target, widen)
        if plan.overlays:
            plan.overlays[0].notes += [
                f"{hold.where}: the hold on {hold.path} names no folder of the repository, so it "
                "holds nothing (paths are case-sensitive); correct its path, or lift it with "
                f"gitops-release unhold --path {hold.path}"
                for hold in policy.holds if hold.exists is False]
    plan.refusal = policy_refusal(policy, plan.overlays, target, s.path, source=s.source,
                                  forced=s.allow_downgrade, operator=operator, token=s.token,
                                  environ=environ or {}, taken=plan.taken)
    return plan


def _plan_overlays(plan: Plan, root: Path, overlay: Path, folders: list[Path], target: Target,
                   s: Settings) -> Refusal | None:
    """Plan each folder into ``plan``; the first overlay's refusal stops it. The files git tracks
    in a fan-out's folders are listed once for all of them."""
    shown_folders = [folder.relative_to(root).as_posix() for folder in folders]
    tracked = Tracked.listing(root, shown_folders) if len(folders) > 1 else None
    for folder, shown in zip(folders, shown_folders, strict=True):
        # a sibling that builds on prod renders prod's planned edit (its own release env var)
        base = {c.path.relative_to(root).as_posix(): c.new_text.removeprefix(BOM)
                for c in plan.overlays[0].changes if c.changed} \
            if folder != overlay and plan.overlays else None
        try:
            overlay_plan = plan_overlay(root, shown, target, KINDS[s.event],
                                        s.path.rstrip("/") if folder != overlay else "", tracked,
                                        base)
        except OutsideOverlayError as exc:
            if folder == overlay:
                raise
            plan.skipped.append(
                f"{shown} builds on {s.path.rstrip('/')}: the edit there reaches it, and it has "
                "no file of its own to write" if isinstance(exc, BuildsOnError) else
                f"{shown} holds no file to update ({exc.message}); left as it is")
            continue
        except ManifestError as exc:
            if folder == overlay:
                raise
            if isinstance(exc, NoAppWorkload) and plan.overlays and \
                    not _same_workload(plan.overlays[0].target, exc.workloads):
                # a sibling that runs none of the app (a Job-only prod-migrate, a database's
                # prod-db) is not its environment; one that renders the deployed workload under
                # another image (a mirror) stops the fan-out below, as an error
                plan.skipped.append(f"{shown} runs no workload of {target.app} ({exc.message}); "
                                    "left as it is")
                continue
            if isinstance(exc, NoAppWorkload) and plan.overlays:
                exc.message = (f"{exc.message}; it renders {plan.overlays[0].target.split(' ', 1)[0]}"
                               f" as {s.path.rstrip('/')} does, so the app runs there from another "
                               "image repository (a registry mirror?)")
                exc.hint = (f"Deploy {s.path.rstrip('/')} with fan-out: false and {shown} on its "
                            "own with its own image; or, for one build in both, allow that "
                            f"repository for {shown} in gitops-release.yaml (apps[].images)")
            if "has nothing to update" not in exc.message:
                exc.message = _fanned(s, shown, exc.message)
                exc.args = (exc.message,)
                raise
            plan.skipped.append(f"{shown} holds no file to update; left as it is")
            continue
        plan.overlays.append(overlay_plan)
        if overlay_plan.refusal is not None:
            refusal = overlay_plan.refusal
            return refusal if folder == overlay else \
                Refusal(refusal.reason, _fanned(s, shown, refusal.message))
    # Overlays beside one deployed that build on it: rendered with every change of this
    # commit, also those the fan-out deploys (each was proven against its own edit alone)
    changes = [change for p in plan.overlays for change in p.changes]
    for overlay_plan in plan.overlays:
        if overlay_plan.dependents:
            overlay_plan.notes += check_dependents(root, overlay_plan.dependents, changes, target,
                                                   plan.taken, deployed=overlay_plan.folder)
    return None


def _far_holds(root: Path, holds: Sequence[Hold], plan: Plan, target: Target,
               widen: Callable[[list[str]], list[str]] | None) -> None:
    """A held overlay anywhere in the repository whose kustomize tree reads a file this deploy
    changes is rendered before and after, as the overlays that build on the one deployed are
    (``check_dependents``): one that takes the deploy is handed to the policy with them
    (``plan.taken``), whose hold then refuses it; one that pins its own image is left alone.
    Discovery finds those beside the overlay and above it; a hold names its overlay, so one
    further away (a region three folders off that lists ../../../overlays/dev) is read here,
    brought into a sparse checkout first."""
    changed = {c.path.relative_to(root).as_posix() for c in plan.changes if c.changed}
    judged = {o.folder for o in plan.overlays} | {r.path for r in plan.taken}
    for hold in holds:
        held = hold.path.rstrip("/")
        if not changed or held in judged:
            continue
        if widen is not None:
            if not (root / held).exists():
                widen([held])
            for _ in range(MAX_WIDENINGS):
                absent = absent_paths(root, held)
                if not absent or not widen(absent):
                    break
        if not (root / held).is_dir() or (root / held).is_symlink():
            continue
        for folder in _held_overlays(root, held):
            if folder in judged:
                continue
            try:
                tree = discover(root, folder)
            except GitopsReleaseError:
                continue  # it does not build as it is: this deploy does not decide it
            if changed & set(tree.files):
                plan.overlays[0].notes += check_dependents(root, [folder], plan.changes, target,
                                                           plan.taken)


def _hold_folders(root: Path, holds: Sequence[Hold]) -> set[str]:
    """The holds' paths that are folders of the repository: one that is not (a typo such as
    ``apps/web/prd``, or an overlay since removed) holds nothing, and the deploy it was meant to
    stop would go through without a word. Looked up in HEAD's tree (a sparse checkout leaves
    folders out of the work tree), else in the work tree."""
    paths = sorted({hold.path.rstrip("/") for hold in holds if hold.path.rstrip("/")})
    if not paths:
        return set()
    asked = [p for p in paths if "\n" not in p]
    try:
        listed = subprocess.run(["git", "cat-file", "--batch-check=%(objecttype)"], cwd=root,
                                input="".join(f"HEAD:{p}\n" for p in asked).encode(),
                                capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        listed = None
    answers = listed.stdout.decode("utf-8", "replace").splitlines() if listed else []
    if listed is not None and listed.returncode == 0 and len(answers) == len(asked):
        found = {p for p, kind in zip(asked, answers, strict=True) if kind == "tree"}
    else:  # no git work tree (or no commit yet): the work tree
        found = {p for p in paths if (root / p).is_dir()}
    return found


HELD_FOLDER_LIMIT = 500  # overlays looked at below one held folder


def _held_overlays(root: Path, held: str) -> list[str]:
    """The overlays a hold on ``held`` covers: the folder itself when it is one (it has a
    kustomization), else every folder below it that has one (a hold on clusters/prod covers
    clusters/prod/web, which may build on the overlay deployed)."""
    if any((root / held / name).is_file() for name in KUSTOMIZATION_FILES):
        return [held]
    found: set[str] = set()
    for name in KUSTOMIZATION_FILES:
        for path in (root / held).rglob(name):
            if len(found) >= HELD_FOLDER_LIMIT:
                break
            if path.is_file() and not any(p.is_symlink() for p in path.parents
                                          if root in p.parents):
                found.add(path.parent.relative_to(root).as_posix())
    return sorted(found)


def _refuse_inside_a_chart(root: Path, overlay: Path) -> None:
    """A folder inside a Helm chart (its templates/) is the chart's, not an overlay of its own:
    deployed as a plain folder, it moved what the chart renders past the chart's hold."""
    for folder in overlay.relative_to(root).parents:
        if folder != Path() and (root / folder / "Chart.yaml").is_file():
            raise PathError(f"{overlay.relative_to(root).as_posix()} is inside the Helm chart "
                            f"{folder.as_posix()} (its Chart.yaml): the chart is what renders it, "
                            "so it is deployed as the chart; nothing was written",
                            input_name="path", hint=f"Point 'path' at {folder.as_posix()} (the "
                            "receiver edits its values file)")


def _same_workload(label: str, workloads: frozenset[tuple[str, str]]) -> bool:
    """Whether one of ``workloads`` (kind, rendered name) is the deployed overlay's target
    (``label``: 'Deployment/web container web'), under a name prefix or suffix of its own."""
    kind, _, name = label.split(" ", 1)[0].partition("/")
    return any(k == kind and (n == name or n.endswith("-" + name) or n.startswith(name + "-")
                              or f"-{name}-" in n) for k, n in workloads)


def _fanned(s: Settings, sibling: str, message: str) -> str:
    """A fan-out sibling's refusal or error, said as the whole fan-out's."""
    return (f"the fan-out of {s.path.rstrip('/')} to its prod-* siblings stops at {sibling} "
            f"(a fan-out deploys every overlay or none, so nothing was deployed; fan-out: false "
            f"deploys {s.path.rstrip('/')} alone): {message}")


def prerender(root: Path, s: Settings,
              ready: Callable[[Tree, Mapping[str, str]], None] | None = None) -> None:
    """Plan the overlay as checked out, in a background thread, while the deploy does its git
    work: nothing written, no policy check (no API call). The renders it makes, before and after
    the edit, are kept by their input (render.RENDERS), so planning on the fetched tip finds
    them made when the files did not change. Any problem is left to that planning, which
    reports it. ``ready`` runs while the render of the planned edit does (render.while_proving).
    ``settle_prerender`` waits for it."""
    thread = threading.Thread(target=_preplan, args=(root, s, ready),
                              name="gitops-release-preplan", daemon=True)
    thread.start()
    _PREPLANS.append(thread)


_PREPLANS: list[threading.Thread] = []


def _preplan(root: Path, s: Settings,
             ready: Callable[[Tree, Mapping[str, str]], None] | None) -> None:
    from gitops_release import render
    from gitops_release.discovery import discover

    try:
        overlay = resolve_overlay(root, s.config_root, s.path).relative_to(root).as_posix()
        # The "before" render starts at once, before git lists what it tracks: an untracked
        # file in it only makes its input differ from the plan's, which then renders again.
        tree = discover(root, overlay, Tracked(("",), None))
        render.prerender(tree)
        target = apply_settings(s.target, load_policy(root), s.path)
        render_ahead(tree, target, KINDS[s.event])  # the likely "after" render, started too
        if ready is None:
            plan_overlay(root, overlay, target, KINDS[s.event])
        else:
            with render.while_proving(ready):
                plan_overlay(root, overlay, target, KINDS[s.event])
    except Exception:  # noqa: S110 - planning reads the same files and reports the error
        pass


def render_after_ahead(root: Path, tree: Tree, raw: Mapping[str, str], event: str) -> None:
    """Start the render the proof of the deploy ``raw`` most likely asks for after the "before"
    render of ``tree`` (manifests.render_ahead); nothing when the inputs do not parse."""
    s = parse_settings(raw, event)
    render_ahead(tree, apply_settings(s.target, load_policy(root), s.path), KINDS[event])


def settle_prerender(final: bool = False) -> None:
    """Wait for the background plan, before anything plans or changes the files; ``final`` (the
    deploy is over) also stops the renders started ahead that nothing used, and removes their
    scratch copies."""
    from gitops_release import signals

    while _PREPLANS:
        thread = _PREPLANS.pop()
        while thread.is_alive():
            thread.join(0.2)
            if signals.pending():  # interrupted: stop the renders the plan waits for
                _stop_renders()
    if final:
        _stop_renders()


def _stop_renders() -> None:
    """Stop the renders still running (kustomize, helm) and remove their scratch copies."""
    from gitops_release import render

    render.RENDERS.close()
    helm = sys.modules.get("gitops_release.helmrender")
    if helm is not None:
        helm.close()


def notices(plan: Plan, s: Settings, runner: Runner) -> None:
    """Say what the version comparison and the planner noticed."""
    for overlay in plan.overlays:
        current = overlay.previous_version
        order = compare(current, s.target.version) if current is not None else None
        if order is Order.OLDER:
            runner.notice(f"rolling {overlay.folder} back from {current} to {s.target.version} "
                          "(allow-downgrade)", title="Downgrade allowed")
        elif order is Order.INCOMPARABLE:
            runner.notice(f"{overlay.folder}: {current!r} and {s.target.version!r} are not in one "
                          "version scheme, so they cannot be ordered; deploying",
                          title="Versions not compared")
        elif current is None and overlay.previous_image and not overlay.refusal:
            runner.notice(f"{overlay.folder}: no version can be read from what runs now "
                          f"({overlay.previous_image!r}), so the downgrade guard has nothing to "
                          f"compare {s.target.version!r} with; deploying",
                          title="Versions not compared")
        for note in overlay.notes:
            runner.warning(f"{overlay.folder}: {note}", title="Deploy note")
        if overlay.proof:
            runner.info(f"proof of {overlay.folder}: {overlay.proof}, "
                        f"{overlay.render_seconds * 1000:.0f} ms rendering")


def write_files(changes: list[FileChange]) -> None:
    """Atomic writes: every new text goes to a temp file first; then each is renamed into place.
    A full disk is found while writing the temp files, before any file is replaced."""
    from gitops_release.transaction import temp_prefix

    staged: list[tuple[Path, Path]] = []
    try:
        for change in changes:
            try:
                fd, name = tempfile.mkstemp(dir=change.path.parent, prefix=temp_prefix())
            except PermissionError as exc:
                raise GitopsReleaseError(
                    f"{change.path.parent} cannot be written to ({exc.strerror}), so "
                    f"{change.path.name} cannot be replaced; no file was changed",
                    hint="Check the folder's permissions and attributes (chattr -i) in the "
                    "clone") from exc
            temp = Path(name)
            staged.append((temp, change.path))
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                    f.write(change.new_text)
                    f.flush()
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise ResourceError(f"the disk is full: {change.path} could not be written",
                                    hint="Free space on the runner and run again; no file was "
                                    "changed") from exc
            # a file the deploy creates (the policy file of a first hold) gets git's usual mode
            temp.chmod(change.path.stat().st_mode & 0o777 if change.path.exists() else 0o644)
        for temp, path in staged:
            try:
                temp.replace(path)
            except PermissionError as exc:
                raise GitopsReleaseError(
                    f"{path} cannot be replaced ({exc.strerror}); the clone is restored",
                    hint="Check the file's and folder's permissions and attributes (chattr -i) "
                    "in the clone") from exc
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)


def commit_message(s: Settings) -> str:
    subject = (s.commit_message.replace("{release}", s.target.release)
               .replace("{image}", str(s.target.image)).replace("{path}", s.path))
    return subject + "\n\n" + "".join(f"{key}: {value}\n" for key, value in s.trailers)


REFUSAL_TITLES = {"downgrade": "Downgrade refused", "held": "Deploy held",
                  "frozen": "Deploy frozen", "policy": "Refused by policy"}


def refused_error(refusal: Refusal) -> RefusedError:
    hints = {"downgrade": "Nothing was changed. Set allow-downgrade: true to roll back",
             "policy": "Nothing was changed. Fix the payload, or allow it in gitops-release.yaml"}
    if refusal.reason == "downgrade":
        return DowngradeError(refusal.message, hint=hints["downgrade"])
    error = RefusedError(refusal.message, reason=refusal.reason,
                         hint=refusal.hint or hints.get(refusal.reason))
    error.title = REFUSAL_TITLES.get(refusal.reason, error.title)
    return error


def summary(runner: Runner, s: Settings, plan: Plan, commit: str, note: str = "",
            refused: bool = False) -> None:
    verb = "Refused" if refused else ("Deployed" if commit else "Deploy")
    lines = [f"### {verb} `{md_escape(s.target.release)}` → `{md_escape(s.path)}`", ""]
    if note:
        lines += [note, ""]
    lines += [f"Image: `{md_escape(str(s.target.image))}`", ""]
    lines += ["| Overlay | Target | Before | Written at | Check |", "|---|---|---|---|---|"]
    for overlay in plan.overlays:
        changed = any(c.changed for c in overlay.changes)
        where = ("refused" if refused else "no change") if refused or not changed else \
            "; ".join(overlay.places)
        lines.append(f"| {md_escape(overlay.folder)} | {md_escape(overlay.target)} | "
                     f"{md_escape(overlay.previous_image)} | {md_escape(where)} | "
                     f"{md_escape(overlay.proof)} |")
    notes = [f"{o.folder}: {n}" for o in plan.overlays for n in o.notes] + plan.skipped
    if notes:
        lines += [""] + [f"- {md_escape(n)}" for n in notes]
    if commit:
        lines += ["", f"Commit: `{commit}`"]
    runner.summary("\n".join(lines) + "\n")


@dataclass(frozen=True)
class ExtraChanges:
    """What a config-repo command adds to a deploy (``rollback``: the hold), in the same commit.

    ``plan(root)`` is called on every push attempt, after the overlay was planned and checked,
    with the clone reset to the remote branch; it returns planned, unwritten changes, which are
    written with the overlay's files (all or none) and committed with them, even when the overlay
    itself needs no change. ``trailers`` are added to the commit message. ``operator`` says the
    deploy comes from the config repo itself (not from a dispatch): holds and freezes do not
    refuse it (``DeployRequest.operator`` of the policy check).
    """

    plan: Callable[[Path], list[FileChange]]
    trailers: tuple[tuple[str, str], ...] = ()
    operator: bool = True


def run(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str], event: str,
        root: Path | None = None, extra: ExtraChanges | None = None,
        extra_trailers: tuple[tuple[str, str], ...] = ()) -> None:
    """Run a receiver command: the whole deploy, or nothing (the clone restored). ``extra`` adds
    a config-repo command's changes (rollback: the hold); ``extra_trailers`` end the commit
    message (``promote`` adds ``Promoted-From``)."""
    from gitops_release import delivery  # the write path; it imports this module's planner

    delivery.run(raw, runner, environ, event, root, extra=extra, extra_trailers=extra_trailers)
