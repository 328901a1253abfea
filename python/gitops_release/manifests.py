"""Plan one overlay's deploy of a workload image: find the place that decides the rendered image
(and release env var), edit it exactly, and prove the edit by rendering.

Places, in order of precedence: a kustomization ``images:`` entry of the overlay, or of a Component
of its tree inside the folder, that applies to the target (it wins over the workload field it
overrides); the container's ``image`` in a resource or patch inside the overlay folder (never one
that a later patch overrides); a new ``images:`` entry in the overlay (what ``kustomize edit set
image`` writes) when the image comes from a base outside it. Files outside the overlay folder, or
inside it but used by another kustomization, are shared with other overlays and never edited.
When more than one place could decide, a probe render with a marker in each tells which one does.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from gitops_release import yamledit as y
from gitops_release.discovery import Tree, discover
from gitops_release.errors import ManifestError, PathError
from gitops_release.inline import fold
from gitops_release.places import (
    JSON_IMAGE_RE,
    Edits,
    Place,
    add_env,
    container_paths,
    entry_places,
    env_places,
    field_places,
    is_pattern,
    new_entry_place,
    no_second_entry,
    set_value,
    shared_holding,
)
from gitops_release.policy import Running
from gitops_release.proof import (
    PROBE_HOST,
    Renderer,
    apps_own_image,
    in_reach,
    locate,
    moved_elsewhere,
    probe_markers,
    prove,
    render_diff,
    sets_env,
)
from gitops_release.reference import ImageReference, same_repository
from gitops_release.targets import (
    Found,
    Wanted,
    containers_of,
    dig,
    env_list,
    env_values,
    object_name,
    object_names,
    parsed_image,
    select,
)


class OutsideOverlayError(ManifestError):
    """What decides the target's image or release env var lies outside the overlay folder."""


class BuildsOnError(OutsideOverlayError):
    """A fan-out sibling that builds on the overlay deployed and has nothing of its own to
    write: that overlay's edit reaches it."""

@dataclass(frozen=True)
class Target:
    """What to write: the image, the release, and how to find the place."""

    image: ImageReference
    release: str
    app: str
    version: str
    release_env: str = "APP_RELEASEVERSION"
    container: str = ""
    workload: str = ""
    helm_image_key: str = ""
    helm_tag_key: str = ""
    helm_digest_key: str = ""
    helm_release_key: str = ""
    helm_registry_key: str = ""
    helm_values_file: str = ""
    allow_repository_change: bool = False


@dataclass(frozen=True)
class FileChange:
    """One file's planned edit."""

    path: Path
    old_text: str
    new_text: str
    previous_image: str
    previous_version: str | None
    what: str

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text


@dataclass(frozen=True)
class Refusal:
    """A deploy that must not happen, as a value: ``reason`` is downgrade, held, frozen or
    policy."""

    reason: str
    message: str
    hint: str = ""  # the fix, where the receiver's default one for the reason does not fit


def repository_refusal(what: str, current: str | None, target: Target,
                       why: str = "") -> Refusal | None:
    """The policy's default rule: a target's image repository never changes (unless the policy
    allows it). ``what`` says where ``current`` comes from ("<file> <key> runs")."""
    if current is None or same_repository(current, target.image.name) or \
            target.allow_repository_change:
        return None
    return Refusal("policy", f"{what} {current}, and the new image is {target.image.name}: a "
                   f"target's image repository never changes unless the policy allows it{why}")


def uncompared_refusal(what: str, target: Target, fix: str) -> Refusal:
    """The default repository rule where what runs shows no repository to compare with the new
    image's (``what`` says why): refused unless the policy lists the app's repositories."""
    return Refusal("policy", f"{what}, so the repository that runs cannot be compared with the "
                   f"new image's ({target.image.name}): a target's image repository never changes "
                   "unless the policy allows it",
                   hint="Nothing was changed. Name the app's image repositories in "
                   f"gitops-release.yaml (apps[].images: the policy then decides), or {fix}")


@dataclass
class OverlayPlan:
    """What one overlay's deploy changes, and how it was proven."""

    folder: str
    changes: list[FileChange] = field(default_factory=list)
    previous_image: str = ""
    previous_version: str | None = None
    target: str = ""
    places: list[str] = field(default_factory=list)
    proof: str = ""
    notes: list[str] = field(default_factory=list)
    refusal: Refusal | None = None
    render_seconds: float = 0.0
    values_keys: tuple[tuple[str, ...], ...] = ()  # Helm: (registry, repository, tag) keys written
    dependents: list[str] = field(default_factory=list)  # overlays beside it that build on it


# -- rendering and the proof -----------------------------------------------------------------

def _apply(tree: Tree, edits: Edits) -> dict[str, str]:
    """The new text of every file the edits change (an inline patch's, its kustomization's)."""
    return {rel: y.apply_edits(tree.files[rel].text, items, rel)
            for rel, items in fold(tree, edits)[0].items()}


def _probe(renderer: Renderer, places: list[Place], found: Found, env: str,
           named: bool = False, others: bool = False) -> tuple[Place | None, Place | None]:
    """One render with a marker in every place: which place decides the image, which the env."""
    edits: Edits = []
    for i, place in enumerate(places):
        marker = f"{PROBE_HOST}/p{i}" + (":t" if place.kind in ("field", "op") else "")
        edits += place.edit(marker)
    render = renderer(_apply(renderer.tree, edits))
    target = locate(render, found)
    if target is None:
        return None, None
    image = str(target.get("image", ""))
    envs = env_values(target, env)

    def which(value: str) -> Place | None:
        match = re.match(re.escape(PROBE_HOST) + r"/p([0-9]+)", value)
        return places[int(match.group(1))] if match else None

    chosen = which(image)
    if chosen is not None:
        marker = f"{PROBE_HOST}/p{places.index(chosen)}"
        if any(m == marker or m.startswith(marker + ":") for m in probe_markers(render, target)):
            followers = _followers_only(renderer, render, target, found, marker, env, others)
            if followers and named:
                raise ManifestError(
                    f"{chosen.label} also sets the image of other containers of "
                    f"{found.label}'s pod that run its image; with 'container' named the target "
                    "moves alone, which that entry cannot do", input_name="container",
                    hint="Leave 'container' unset to move them with the target (the summary "
                    "names them), or give the target its own images: entry or patch")
            if not followers:
                raise ManifestError(f"{chosen.label} also sets the image of containers other than "
                                    f"{found.label}, so it cannot deploy the target alone ("
                                    f"{FOLLOW_RULE.format(env=env)})",
                                    hint="Give the target its own images: entry or patch")
    return chosen, (which(envs[0]) if envs else None)


def _sets_env(renderer: Renderer, place: Place, found: Found, env: str) -> bool:
    """Whether a JSON patch op on ``.../env/<n>/value`` sets ``env``: the render's env entry
    ``n`` of the target is named so (an op on another variable, COLOR, is no place for the
    release). Any other place: True."""
    if place.kind != "env-op" or len(place.path) != 2:
        return True
    ops = list(y.iter_items(place.file.parsed.docs[0] if place.file.parsed.docs else None))
    index = place.path[0]
    op = ops[index] if isinstance(index, int) and index < len(ops) else None
    match = re.search(r"/env/([0-9]+)/value$", y.scalar(y.get(op, "path")) or "")
    if match is None:
        return True
    container = locate(renderer({}), found)
    items = env_list(container)
    n = int(match.group(1))
    return n < len(items) and isinstance(items[n], dict) and items[n].get("name") == env


FOLLOW_RULE = ("the app's other workloads move with the target only when they ran exactly its "
               "image, in its namespace, set no {env} themselves, the image is the app's own "
               "(its repository named after the app), 'container' is not set, and 'workload', "
               "where set, names the app's own workload (named after it, prefixes and suffixes "
               "aside) or none is named after the app: a canary beside it moves alone")


def _others_follow(target: Target, renderer: Renderer) -> bool:
    """Whether the app's other workloads on the target's image may move with it: no container
    named, and the image is the app's own build (proof.apps_own_image). With ``workload`` named,
    only where it names the app's own workload, or no workload of the render is named after the
    app: among podinfo's frontend, backend and database, naming one picks which records the
    release, and is how a deploy of them is possible at all; web-canary named beside web moves
    alone, or not at all."""
    if target.container or not apps_own_image(target.image.name, target.app):
        return False
    if not target.workload or target.workload == target.app:
        return True
    tree = renderer.tree
    prefixes, suffixes = tree.affixes
    named = [object_names(obj, prefixes, suffixes) for obj in renderer({})
             if isinstance(obj, dict) and containers_of(obj)]
    # the workload named answers to the app's name (prod-web under namePrefix: prod-, web-green
    # under nameSuffix: -green), or none does
    return any(target.workload in names and target.app in names for names in named) or \
        not any(target.app in names for names in named)


def _followers_only(renderer: Renderer, render: list[Any], target: Any, found: Found,
                    marker: str, env: str, others: bool = False) -> bool:
    """Whether the other containers that ``marker`` reached are all of the target's pod (or,
    with ``others``, of the app's other workloads in its namespace) and ran exactly the target's
    image before (a migration init container, an asset copier, the app's worker): they move
    with the target, as the proof allows and the summary names. One that sets the release env
    var ``env`` itself does not follow (nor any, once 'container' names the target)."""
    before = renderer({})
    if found.index >= len(before) or not isinstance(before[found.index], dict):
        return False
    for i, obj in enumerate(render):
        if not isinstance(obj, dict) or i >= len(before) or not isinstance(before[i], dict):
            continue
        reach = in_reach(before[i], before[found.index], others)
        was = {(n, init): (image, c) for n, image, init, c in containers_of(before[i])}
        for name, image, init, container in containers_of(obj):
            if container is target or not (image == marker or image.startswith(marker + ":")):
                continue
            old = was.get((name, init))
            if not reach or old is None or old[0] != found.image or sets_env(old[1], env):
                return False
    return True


# -- the plan --------------------------------------------------------------------------------

def _pick(renderer: Renderer, tree: Tree, found: Found, target: Target) -> tuple[
        Place | None, Place | None, list[str]]:
    """The places that decide the target's image and release env var."""
    notes: list[str] = []
    entries = entry_places(tree, found, target.image)
    fields = field_places(tree, found)
    envs = env_places(tree, found, target.release_env) if target.release_env else []
    envs = [p for p in envs if _sets_env(renderer, p, found, target.release_env)]
    image_place: Place | None = None
    env_place: Place | None = envs[0] if len(envs) == 1 else None
    if len(entries) + len(fields) == 1 and len(envs) <= 1:
        return (entries + fields)[0], env_place, notes
    if entries or len(envs) > 1:
        image_place, probed_env = _probe(renderer, entries + envs, found, target.release_env,
                                         bool(target.container),
                                         _others_follow(target, renderer))
        env_place = probed_env or env_place
    if image_place is None and fields:
        image_place, _ = _probe(renderer, fields, found, target.release_env,
                                bool(target.container), _others_follow(target, renderer))
        if image_place is None:
            notes.append("no workload field inside the overlay decides the image: "
                         + ", ".join(p.label for p in fields) + " are overridden")
    return image_place, env_place, notes


def read_image(root: Path, folder: str, app: str, event: str, container: str = "") -> str | None:
    """The image the overlay at ``folder`` renders for ``app`` (no edit, nothing written)."""
    from gitops_release.targets import KINDS

    kinds = KINDS["jobs" if event == "new-job-image" else "workloads"]
    tree = discover(root, folder)
    renderer = Renderer(tree)
    try:
        render = renderer({})
    finally:
        renderer.close()
    prefixes, suffixes = tree.affixes
    return select(render, Wanted(app, "", tuple(kinds), "", container), prefixes, suffixes,
                  folder).image or None


def plan_workload(tree: Tree, target: Target, kinds: Sequence[str],
                  new_entry: bool = True) -> OverlayPlan:
    """The plan of one overlay whose render holds workloads of ``kinds``; ``new_entry``: an
    ``images:`` entry may be added when nothing inside the overlay decides the image."""
    renderer = Renderer(tree)
    try:
        return _plan_workload(renderer, tree, target, kinds, new_entry)
    finally:
        renderer.close()


class _Based(Renderer):
    """Renders with ``base`` (another overlay's planned texts of files this tree reads) in
    place of those files' own."""

    def __init__(self, tree: Tree, base: Mapping[str, str]) -> None:
        super().__init__(tree)
        self.base = dict(base)

    def __call__(self, texts: dict[str, str], planned: bool = False) -> list[Any]:
        return super().__call__({**self.base, **texts}, planned)


def plan_release_env(tree: Tree, target: Target, kinds: Sequence[str],
                     base: Mapping[str, str]) -> OverlayPlan | None:
    """The plan of a prod-* overlay that builds on prod (``tree.follows``) and takes the
    target's image from prod's edit in this commit (``base``: prod's planned texts, of files
    this tree reads), but sets the release env var itself in a file of its own: that env var is
    set to the release, proven by the render with prod's edit applied. It was refused (it would
    run the new image and claim the old release). None where prod's edit does not bring the
    new image, or the overlay sets no release env var of its own (nothing to write here)."""
    base = {rel: text for rel, text in base.items() if rel in tree.files}
    if not target.release_env or not tree.follows:  # no base: prod runs the image already
        return None
    renderer = _Based(tree, base)
    plain = Renderer(tree)
    try:
        before = renderer({})
        prefixes, suffixes = tree.affixes
        wanted = Wanted(target.app, target.image.name, tuple(kinds), target.workload,
                        target.container)
        try:
            found = select(before, wanted, prefixes, suffixes, tree.overlay)
        except ManifestError:  # the deploy of prod's checks say what this overlay does
            return None
        if found.image != str(target.image):
            return None
        envs = [p for p in env_places(tree, found, target.release_env)
                if p.file.inside and _sets_env(renderer, p, found, target.release_env)]
        old = locate(before, found) or {}
        values = env_values(old, target.release_env)
        if len(envs) != 1 or values == [target.release]:
            return None
        try:
            was = select(plain({}), wanted, prefixes, suffixes, tree.overlay).image
        except ManifestError:
            was = found.image  # prod's, which it builds on
        plan = OverlayPlan(tree.overlay, previous_image=was, target=found.label)
        current = parsed_image(was)
        plan.previous_version = current.tag if current is not None else None
        place = replace(envs[0], kind="running", edit=lambda _value: [],
                        label=f"{found.label} runs {target.image} through {tree.follows}")
        edits, texts, _after, proven, _expected = _attempt(
            renderer, (found, target), place, (envs[0], values), plan, before)
        if not proven:
            return None
        plan.notes.append(f"the image comes from {tree.follows}, which this deploy updates in "
                          f"the same commit; {tree.overlay} sets {target.release_env} itself, "
                          "written here")
        plan.proof = (f"{renderer.proof}, with the edit of {tree.follows} ({renderer.count} "
                      "renders)")
        plan.render_seconds = renderer.seconds
        plan.changes = _changes(tree, edits, texts, plan)
        return plan
    finally:
        renderer.close()
        plain.close()


class _Started(Exception):
    """A planning pass ahead of the "before" render reached its first render, now started."""


class _Ahead(Renderer):
    """Renders for a planning pass made before the "before" render exists: that render is a
    guess (see ``render_ahead``); any other is started in the background and ends the pass."""

    def __init__(self, tree: Tree, guess: list[Any]) -> None:
        self.tree, self.guess, self.scratch, self.count, self.seconds = tree, guess, None, 0, 0.0

    def __call__(self, texts: dict[str, str], planned: bool = False) -> list[Any]:
        if not texts:
            return self.guess
        from gitops_release.render import prerender

        prerender(self.tree, texts)
        raise _Started


AHEAD_LIMIT = 1024 * 1024  # bytes of an overlay's tree planned ahead of its "before" render
_AHEAD: set[tuple[str, str, Target]] = set()  # what this process planned ahead already


def render_ahead(tree: Tree, target: Target, kinds: Sequence[str]) -> None:
    """Start, in the background, the render the proof will most likely ask for after the
    "before" render: the plan is made once on a guess of that render (the resources' own
    workloads, named with the kustomizations' prefixes and suffixes) up to its first render.
    The proof later uses a render made here only for exactly the same input (render.RENDERS),
    so a wrong guess costs one render, never a wrong proof. Nothing is written."""
    from gitops_release.render import to_data

    if tree.kustomization is None or sum(len(f.text) for f in tree.files.values()) > AHEAD_LIMIT \
            or (str(tree.root), tree.overlay, target) in _AHEAD:
        return
    _AHEAD.add((str(tree.root), tree.overlay, target))
    prefix = "".join(k.name_prefix for k in tree.kustomizations)
    suffix = "".join(k.name_suffix for k in reversed(tree.kustomizations))
    guess: dict[tuple[str, str], Any] = {}
    for file in tree.files.values():
        for doc in file.parsed.docs if file.role == "resource" else ():
            data = to_data(doc) if doc is not None else None
            name = dig(data, ("metadata", "name"))
            if isinstance(data, dict) and data.get("kind") in kinds and isinstance(name, str):
                data["metadata"]["name"] = prefix + name + suffix
                guess.setdefault((str(data["kind"]), name), data)
    with contextlib.suppress(Exception):  # _Started, or a guess the real plan will not make
        _plan_workload(_Ahead(tree, _with_images(list(guess.values()), tree)), tree, target,
                       kinds, True)


def _with_images(guess: list[Any], tree: Tree) -> list[Any]:
    """The guess with the kustomizations' ``images:`` entries applied, innermost first, as
    kustomize's image transformer would (by image name; newName, newTag, digest)."""
    for kust in reversed(tree.kustomizations):
        docs = kust.file.parsed.docs
        for entry in y.iter_items(y.get(docs[0], "images")) if docs and docs[0] is not None else ():
            name, new_name, tag, digest = (y.scalar(y.get(entry, key)) for key in (
                "name", "newName", "newTag", "digest"))
            for obj in guess:
                for _name, image, _init, container in containers_of(obj):
                    ref = parsed_image(image)
                    if ref is None or ref.name != name:
                        continue
                    tail = f"@{digest}" if digest else f":{tag}" if tag else \
                        (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")
                    container["image"] = f"{new_name or ref.name}{tail}"
    return guess


def _refuse_argocd_override(tree: Tree, found: Found, target: Target) -> None:
    """Argo CD applies the ``kustomize.images`` of ``.argocd-source.yaml`` and
    ``.argocd-source-<app>.yaml`` in the overlay folder (argocd-image-updater's write-back) over
    the kustomization: an entry for the target's repository there decides what Argo CD deploys,
    and a deploy edited elsewhere would render here and change nothing in the cluster."""
    from gitops_release.render import load_documents

    folder = tree.root / tree.overlay
    current = parsed_image(found.image)
    names = {target.image.name} | ({current.name} if current is not None else set())
    for path in sorted(folder.glob(".argocd-source*.y*ml")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            docs = load_documents(path.read_text(encoding="utf-8"), path.name)
        except (ManifestError, UnicodeDecodeError, OSError):
            continue
        images = dig(docs[0] if docs else None, ("kustomize", "images"))
        for entry in images if isinstance(images, list) else []:
            ref = parsed_image(str(entry).split("=", 1)[-1]) if isinstance(entry, str) else None
            named = str(entry).split("=", 1)[0] if isinstance(entry, str) else ""
            if any(same_repository(n, x) for n in names
                   for x in (named, ref.name if ref else "") if x):
                rel = f"{tree.overlay}/{path.name}"
                raise ManifestError(
                    f"{rel} sets kustomize.images {entry!r}: Argo CD applies it over the "
                    f"kustomization, so it decides what {found.label} runs there, and a deploy "
                    "written elsewhere would change nothing in the cluster; nothing was written",
                    hint="Remove that entry (argocd-image-updater's git write-back writes it: let "
                    "one tool deploy the app), then deploy again")


def _plan_workload(renderer: Renderer, tree: Tree, target: Target,
                   kinds: Sequence[str], new_entry: bool) -> OverlayPlan:
    before = renderer({})
    prefixes, suffixes = tree.affixes
    found = select(before, Wanted(target.app, target.image.name, tuple(kinds), target.workload,
                                  target.container), prefixes, suffixes, tree.overlay)
    plan = OverlayPlan(tree.overlay, previous_image=found.image, target=found.label)
    _refuse_argocd_override(tree, found, target)
    container_paths(tree, found)  # refuses a pod with two containers of the target's name
    current = parsed_image(found.image)
    plan.previous_version = current.tag if current is not None else None
    old_env = locate(before, found) or {}
    env_set = env_values(old_env, target.release_env)
    if plan.previous_version is None and env_set and "@" in env_set[0]:
        plan.previous_version = env_set[0].rsplit("@", 1)[1]
    plan.refusal = repository_refusal(f"{found.label} in {tree.overlay} runs",
                                      current.name if current is not None else None, target)
    if current is None and not target.allow_repository_change:
        # ${TAG} (Flux postBuild, envsubst) or empty: nothing to compare the repository with
        plan.refusal = uncompared_refusal(
            f"{found.label} in {tree.overlay} runs {found.image!r}, which is no image reference "
            "(a variable filled in later, or empty)", target, "write the image the overlay runs")
    if plan.refusal is not None:
        return plan
    image_place, env_place, plan.notes = _pick(renderer, tree, found, target)
    plan.notes += tree.notes
    if image_place is None and not new_entry:
        raise OutsideOverlayError(f"{tree.overlay} takes the image of {found.label} from outside "
                                  "its folder")
    tries: list[Place | None] = [image_place] + (
        [None] if image_place is not None and tree.kustomization is not None
        and image_place.kind != "new-entry" and new_entry else [])
    if found.image == str(target.image):
        # The render runs exactly this image already (a redelivered event): no image field is
        # edited, not even one that differs and renders nothing (a field a replacement or an
        # images: entry overrides); the release env var still is, when it is not yet set.
        base = image_place or new_entry_place(tree, found, target.image)
        if base is not None:
            tries.insert(0, replace(base, kind="running", edit=lambda _value: [],
                                                label=f"{found.label} runs {target.image} already"))
    picked = list(plan.notes)
    for place in tries:
        plan.notes = list(picked)  # an attempt that did not hold leaves no note
        edits, texts, after, proven, expected = _attempt(renderer, (found, target), place,
                                                         (env_place, env_set), plan, before)
        if proven:
            if place is None:  # a new images: entry is written
                no_second_entry(tree, found)
            break
    else:
        edits, texts = _through_replacement(renderer, (before, after, expected), found, target,
                                            env_place, env_set, plan)
    plan.proof = f"{renderer.proof} ({renderer.count} renders)"
    plan.render_seconds = renderer.seconds
    plan.changes = _changes(tree, edits, texts, plan)
    plan.dependents = list(tree.dependents)
    return plan


def _attempt(renderer: Renderer, want: tuple[Found, Target], place: Place | None,
             env: tuple[Place | None, list[str]], plan: OverlayPlan, before: list[Any]) -> tuple[
        Edits, dict[str, str], list[Any], bool, list[Any]]:
    """Plan the edit through ``place`` and render it: the edits, the texts, the render, whether
    it is ``before`` with only the target changed as it must be, and the render expected."""
    found, target = want
    plan.places = []
    edits, env_planned = _edits(renderer.tree, found, target, place, env[0], env[1], plan,
                                before[found.index] if found.index < len(before) else None)
    texts = _apply(renderer.tree, edits)
    after = renderer(texts, planned=True)
    notes: list[str] = []
    proven, expected = prove(before, after, found, target.image, target.release_env,
                             target.release, env_planned, notes, followers=not target.container,
                             others=_others_follow(target, renderer))
    if proven:
        plan.notes += notes
    return edits, texts, after, proven, expected


def _through_replacement(renderer: Renderer, renders: tuple[list[Any], list[Any], list[Any]],
                         found: Found, target: Target, env_place: Place | None,
                         env_values: list[str], plan: OverlayPlan) -> tuple[Edits, dict[str, str]]:
    """The planned edit did not render as needed. When a kustomize replacement copies the
    image from a source field inside the overlay, edit that field, proven by render (the source
    field may change too); else refuse naming the replacement, or show the render difference."""
    from gitops_release.replacements import image_replacements, source_field, with_source

    tree = renderer.tree
    before, after, expected = renders
    rendered = locate(after, found)
    replaced = [] if rendered is not None and str(rendered.get("image", "")) == \
        str(target.image) else image_replacements(tree, found)
    source = source_field(tree, found, replaced[0]) if len(replaced) == 1 else None
    allowed = with_source(before, tree, replaced[0], str(target.image)) if source else None
    if source is not None and allowed is None and _local_config(source[0].parsed.docs[source[1]]):
        allowed = before  # kustomize reads it, never renders it: only the target may move
    if source is not None and allowed is not None:
        file, d, path = source

        def edit(value: str) -> Edits:
            return set_value(file, d, path, value, f"the replacement source {replaced[0].source}")

        place = Place(file, d, path, "source", f"{file.rel} ({replaced[0].source} "
                      f"{replaced[0].field}, the source of {replaced[0].where})", edit)
        edits, texts, after, proven, expected = _attempt(renderer, (found, target), place,
                                                         (env_place, env_values), plan, allowed)
        if proven:
            return edits, texts
    if replaced:
        first = replaced[0]
        raise ManifestError(
            f"{tree.overlay}: {found.label} takes its image from "
            + "; ".join(r.describe() for r in replaced)
            + "; kustomize applies it after images: entries and patches, and the receiver "
            "edits a replacement's source only where it is one field of a resource inside the "
            "overlay, holding the whole image, that changes the target alone; nothing was "
            "written",
            hint=f"Set the image with an images: entry or a patch in {tree.overlay} instead: "
            f"remove {first.field_path} from the replacement's fieldPaths ({first.where}); or "
            f"update {first.source} {first.field} yourself")
    shared = shared_holding(tree, found)
    elsewhere = moved_elsewhere(before, after, found)
    selector = env_place.file.patch_target if env_place is not None else {}
    wide = bool(selector) and (not selector.get("name") or is_pattern(selector["name"]))
    raise ManifestError(f"the planned edit of {tree.overlay} does not render as the deploy "
                        f"needs (only {found.label}'s image and {target.release_env} may "
                        f"change); nothing was written"
                        + (f" ({env_place.file.rel}, where {target.release_env} is set, is "
                           "applied to every workload its target: selects, "
                           + ", ".join(f"{k}: {v}" for k, v in sorted(selector.items())) + ")"
                           if wide and env_place is not None else "")
                        + (f" (it would also move {', '.join(elsewhere)}, which run the same "
                           "image: "
                           + ("deploy without 'container' to move them with it, or give the "
                              "target a place of its own)" if target.container else
                              FOLLOW_RULE.format(env=target.release_env) + ")")
                           if elsewhere else "")
                        + (f" (files that other kustomizations use are not edited: {shared})"
                           if shared else "") + f". Render difference:\n{render_diff(expected, after)}",
                        hint=_narrowing_hint(tree, target, shared))


def _local_config(doc: Any) -> bool:
    """A document kustomize reads (a replacement's source) and leaves out of the render."""
    return str(y.scalar(y.get_path(doc, ("metadata", "annotations",
                                         "config.kubernetes.io/local-config")))).lower() == "true"


def _narrowing_hint(tree: Tree, target: Target, shared: str) -> str:
    """What narrows an edit that moves more than the target: the inputs when they were not
    given, a patch of the target's own (an inline patch the receiver can edit)."""
    inline = _inline_writing(tree, _image_pattern(target.image.name), editable=False)
    named = target.workload and target.container
    return ("Set" if named else "Set 'workload'/'container' (when another workload was "
            "chosen); or set") + " the target's image in a patch of the overlay (an images: " \
        "entry changes every container that runs the image, a patch only the one it names)" + (
            "; or set its image in a patch or file of the overlay that no other kustomization "
            "uses" if shared else "") + (
            f"; {'; '.join(inline)}: it sets the image, and the receiver edits an inline patch "
            "only as a literal block (patch: |): make it one, or move it to a file listed under "
            "patches: (path:)" if inline else "")


def _same_pod_fields(place: Place, value: str, env: str) -> Edits:
    """The other containers of the pod in the target's document whose image is written exactly
    as the target's (a migration init container, a sidecar of the same build): set with it, so
    that the pod runs one version, as an images: entry would move them (the proof checks). One
    that sets the release env var itself is left: its release would claim the old version."""
    doc = place.file.parsed.docs[place.doc]
    current = y.scalar(y.get_path(doc, place.path))
    pod = place.path[:-3]  # (..pod spec, containers|initContainers, index, image)
    edits: Edits = []
    for key in ("containers", "initContainers"):
        for i, item in enumerate(y.iter_items(y.get_path(doc, (*pod, key)))):
            path = (*pod, key, i, "image")
            if path == place.path or current is None or y.scalar(y.get(item, "image")) != current \
                    or any(y.scalar(y.get(e, "name")) == env for e in y.iter_items(y.get(item, "env"))):
                continue
            edits += set_value(place.file, place.doc, path, value, "the container image")
    return edits


def _same_patch_ops(place: Place, value: str, rendered: Any, env: str) -> Edits:
    """The other ops of the target's JSON patch that set an image of the same pod exactly as
    the target's op does (an init container of the same build): set with it, as a field edit
    sets the pod's other fields of that image, so that the pod runs one version (the proof
    checks that they ran exactly the target's image). Not one whose container (in ``rendered``,
    the target's workload before the edit) sets the release env var ``env`` itself: its release
    would claim the old version."""
    ops = list(y.iter_items(place.file.parsed.docs[0] if place.file.parsed.docs else None))
    index = place.path[0]
    if not isinstance(index, int) or len(place.path) != 2 or index >= len(ops):
        return []
    current = y.scalar(y.get(ops[index], "value"))
    pod = (y.scalar(y.get(ops[index], "path")) or "").rsplit("/", 3)[0]
    edits: Edits = []
    for i, op in enumerate(ops):
        path = y.scalar(y.get(op, "path")) or ""
        if i == index or current is None or y.scalar(y.get(op, "op")) not in ("replace", "add") \
                or not JSON_IMAGE_RE.fullmatch(path) or path.rsplit("/", 3)[0] != pod \
                or y.scalar(y.get(op, "value")) != current:
            continue
        parts = [int(part) if part.isdigit() else part for part in path.split("/")[1:-1]]
        if env and sets_env(dig(rendered, parts), env):
            continue
        edits += set_value(place.file, 0, (i, "value"), value, "the JSON patch image value")
    return edits


def _image_pattern(repository: str) -> str:
    return r"(?:value|image):\s*['\"]?" + re.escape(repository) + r"[:@'\"\s]"


def _inline_images(tree: Tree, repository: str) -> list[str]:
    """Notes for the inline patches of the overlay's kustomizations that write an image of
    ``repository`` when the images: entry decides the render (kustomize applies it after
    patches): the patch keeps its old value."""
    return [f"{where}: an inline patch still writes an image of {repository}; the images: "
            "entry overrides it in the render, but readers of the file see the old value (drop "
            "its image from the patch)"
            for where in _inline_writing(tree, _image_pattern(repository), editable=True)]


def _inline_writing(tree: Tree, pattern: str, editable: bool) -> list[str]:
    """The overlay's inline patches whose text matches ``pattern``: those the receiver cannot
    edit (with why), and with ``editable`` those it can as well."""
    found = [where for where, text in tree.inline_refused if re.search(pattern, text)]
    return found + ([p.rel for p in tree.inline if re.search(pattern, p.text)] if editable else [])


def _edits(tree: Tree, found: Found, target: Target, image_place: Place | None,
           env_place: Place | None, env_values: list[str], plan: OverlayPlan,
           rendered: Any = None) -> tuple[Edits, bool]:
    """The edits through ``image_place`` (and ``env_place``); ``rendered``: the target's
    workload as rendered before the edit."""
    if image_place is None:
        image_place = new_entry_place(tree, found, target.image)
        if image_place is None:
            readers = sorted({k for users in tree.shared.values() for k in users})
            raise OutsideOverlayError(f"{tree.overlay}: the image of {found.label} comes from outside "
                                "the overlay folder and the overlay has no kustomization to add "
                                "an images: entry to"
                                + (f" (its files are read by {', '.join(readers)}: shared, not "
                                   "edited)" if readers else ""),
                                hint="Point 'path' at the overlay that sets the image"
                                + (f" ({posixpath.dirname(readers[0])})" if readers else
                                   ", or add a kustomization.yaml to it"))
    value = str(target.image)
    edits = image_place.edit(value)
    if image_place.kind != "running":
        plan.places.append(image_place.label)
    if image_place.kind in ("entry", "new-entry"):
        plan.notes += _inline_images(tree, target.image.name)
    if image_place.kind == "field" and not target.container and \
            not value.startswith(PROBE_HOST):  # a container the caller names moves alone
        edits += _same_pod_fields(image_place, value, target.release_env)
    if image_place.kind == "op" and not target.container and not value.startswith(PROBE_HOST):
        edits += _same_patch_ops(image_place, value, rendered, target.release_env)
    env_planned = bool(target.release_env)
    from gitops_release.replacements import env_replacements

    copied = env_replacements(tree, found, target.release_env) if target.release_env else []
    if not target.release_env:
        pass
    elif copied:
        raise ManifestError(
            f"{found.label} gets {target.release_env} from replacements: "
            f"{'; '.join(copied)}; kustomize applies them after patches, and the receiver "
            "does not edit an env var's replacement source; nothing was written",
            input_name="release-env",
            hint=f"Set {target.release_env} in a patch file of the overlay instead of the "
            "replacement, or set release-env to another name")
    elif env_place is not None:
        edits += env_place.edit(target.release)
        plan.places.append(env_place.label)
    elif env_values:
        named = [f for f in tree.files.values()
                 if re.search(r"\b" + re.escape(target.release_env) + r"\b", f.text)]
        where = sorted({f.rel for f in named if not f.inside})
        mine = sorted({f.rel for f in named if f.inside and f.rel not in tree.shared})
        if mine and not where:
            inline = _inline_writing(tree, r"\b" + re.escape(target.release_env) + r"\b",
                                     editable=False)
            raise ManifestError(
                f"{found.label} gets {target.release_env} from {', '.join(mine)}, inside "
                f"{tree.overlay}, in a form the receiver does not edit ("
                + (f"an inline patch it cannot edit: {'; '.join(inline)}" if inline else
                   "not an env item of the container that it can locate")
                + "); nothing was written", input_name="release-env",
                hint=("Write that inline patch as a literal block (patch: |), which the "
                      "receiver edits; or set " if inline else "Set ")
                + f"{target.release_env} in a patch file of the overlay listed under "
                f"patches: (a strategic-merge patch of the container's env, or a JSON6902 op on "
                f".../env/<n>/value); or set release-env to another name")
        follows = tree.follows.rstrip("/") + "/" if tree.follows else ""
        if follows and where and all(rel.startswith(follows) for rel in where):
            # a prod-* overlay on prod: prod's edit in this commit sets it (the whole commit
            # is rendered for this overlay too: manifests.check_dependents)
            plan.notes.append(f"{target.release_env} comes from {tree.follows}, which this "
                              "deploy updates in the same commit")
            return edits, False
        raise OutsideOverlayError(f"{found.label} gets {target.release_env} from "
                            f"{', '.join(where) or 'a file outside ' + tree.overlay}, which other "
                            "overlays share; the release cannot be recorded in this overlay alone",
                            hint=f"Set {target.release_env} in a patch inside the overlay, or "
                            "remove it from the base")
    else:
        added = add_env(tree, found, target.release_env, target.release,
                         image_place.file if image_place.kind == "field" else None)
        if added is None:
            env_planned = False
            shared = shared_holding(tree, found)
            inline = _inline_writing(tree, r"\bname:\s*['\"]?" + re.escape(found.container) +
                                     r"\b", editable=False)
            plan.notes.append(f"{target.release_env} not written: no document inside "
                              f"{tree.overlay} holds {found.label}"
                              + (f" that no other kustomization uses ({shared})" if shared else "")
                              + (f" (an inline patch may hold it: {'; '.join(inline)}; the "
                                 "receiver edits an inline patch only as a literal block "
                                 "(patch: |))" if inline else
                                 f" ({image_place.label} sets its image: a JSON patch, to which "
                                 "the receiver adds no env list); add an op on its env (where "
                                 "an op adds its whole env list, an entry named "
                                 f"{target.release_env} in that list: later deploys update it), "
                                 "or a strategic-merge patch of it, to record releases"
                                 if image_place.kind == "op" else
                                 "; add a patch for it to record releases"))
        else:
            edits += added[0]
            plan.places.append(f"{added[1]} (new env {target.release_env})")
    return edits, env_planned


def _changes(tree: Tree, edits: Edits, texts: dict[str, str], plan: OverlayPlan) -> list[FileChange]:
    changes = []
    intents = fold(tree, edits)[1]
    for rel, text in texts.items():
        file = tree.files[rel]
        y.verify(file.parsed, text, intents.get(rel, []))
        changes.append(FileChange(file.path, file.on_disk(file.text), file.on_disk(text),
                                  plan.previous_image, plan.previous_version, "workload"))
    return changes


def check_dependents(root: Path, folders: Sequence[str], changes: Sequence[FileChange],
                     target: Target, taken: list[Running] | None = None,
                     deployed: str = "") -> list[str]:
    """Render each overlay of ``folders`` (beside a deployed overlay, building on it) before
    and after ``changes``: it may take the deploy whole (the target's image, at the new tag, and
    release env var both move) or not at all. Taking part of it (the release env var but not the
    image, which it pins itself: it would record a release it does not run), or anything else,
    is a ManifestError, nothing written. One that does not render as it is (broken before this
    deploy) is not checked: a note says so. The notes say what each did; ``taken`` gets each
    that takes the deploy, with the image and version it ran (the policy judges it as an
    overlay the deploy moves: its holds, freezes, version scheme and app rule)."""
    notes: list[str] = []
    for folder in folders:
        try:
            tree = discover(root, folder)
        except PathError as exc:  # a symlink: kustomize follows it, the receiver does not
            raise ManifestError(f"{folder} builds on the overlay deployed, and the receiver "
                                f"cannot render it to check what this edit does there "
                                f"({exc.message}); "
                                "nothing was written", hint="Replace the symlink in "
                                f"{folder} with the file or a kustomize reference") from None
        except ManifestError as exc:  # it does not build as it is: this edit cannot break it
            notes.append(f"{folder} builds on the overlay deployed but could not be read, so its "
                         f"render was not checked ({exc})")
            continue
        texts = {}
        for change in changes:
            rel = change.path.relative_to(root).as_posix()
            if rel in tree.files and change.changed:
                texts[rel] = change.new_text.removeprefix(tree.files[rel].bom)
        if not texts:
            continue
        renderer = Renderer(tree)
        try:
            try:
                before = renderer({})
            except ManifestError as exc:
                notes.append(f"{folder} builds on the overlay deployed but does not render as "
                             f"it is, so its render was not checked ({exc.message})")
                continue
            try:
                after = renderer(texts)
            except ManifestError as exc:
                raise ManifestError(f"{folder} builds on the overlay deployed, and it does not "
                                    f"render with this edit ({exc.message}); nothing was "
                                    "written", hint=f"Deploy {folder} on its own, or fix what "
                                    "the edit breaks there") from None
        finally:
            renderer.close()
        problem, hint = _partial_take(before, after, target)
        if problem:
            raise ManifestError(f"{folder} builds on the overlay deployed, and with this edit "
                                f"{problem}; nothing was written", hint=hint.format(folder=folder,
                                                                                    env=target.release_env))
        if before == after and deployed and \
                PurePosixPath(folder) in PurePosixPath(deployed).parents:
            # prod/cron deployed, and prod, which lists it, sets the image over it (its own
            # images: entry): what prod applies does not move, and the deploy changed nothing
            raise ManifestError(
                f"{deployed} is read by {folder}, which builds on it, and {folder}'s render does "
                "not change with this deploy (it sets the image over it, e.g. with an images: "
                f"entry of its own), so the deploy would change nothing {folder} applies; "
                "nothing was written", hint=f"Deploy {folder} (path: {folder}), where the image "
                "that runs is decided")
        notes.append(f"{folder} builds on the overlay deployed: "
                     + ("its render does not change" if before == after else
                        "it takes this deploy too (its render moves the same way)"))
        if before != after and taken is not None:
            ran = _moved_from(before, after)
            ref = parsed_image(ran) if ran else None
            taken.append(Running.of(folder, ran, ref.tag if ref is not None else None))
    return notes


def _moved_from(before: list[Any], after: list[Any]) -> str:
    """The image the first container whose image the edit moves ran before ('' for none)."""
    for old, new in zip(before, after, strict=False):
        if old == new:
            continue
        now = {(n, init): image for n, image, init, _ in containers_of(new)}
        for name, image, init, _ in containers_of(old):
            if now.get((name, init), image) != image:
                return image
    return ""


AWAY = "; or deploy an overlay that no other overlay builds on"


def _partial_take(before: list[Any], after: list[Any], target: Target) -> tuple[str, str]:
    """What is wrong with ``after`` against ``before`` for an overlay that builds on the one
    deployed, and the fix (('', '') when nothing changed, or only the target's image, to the new
    tag and digest under any name the overlay gives it, and release env var moved together)."""
    env = target.release_env
    if len(before) != len(after):
        return "its render has other objects", "Deploy {folder} on its own" + AWAY
    for old, new in zip(before, after, strict=True):
        if old == new:
            continue
        label = f"{new.get('kind')}/{object_name(new)}" if isinstance(new, dict) else "an object"
        if _without_images(old, env) != _without_images(new, env):
            return (f"{label} changes beyond its image and {env}",
                    "Deploy {folder} on its own" + AWAY)
        was = {(n, init): (image, _env_value(c, env)) for n, image, init, c in containers_of(old)}
        for name, image, init, container in containers_of(new):
            old_image, old_release = was.get((name, init), ("", None))
            release = _env_value(container, env)
            shown = f"{label} {'init container' if init else 'container'} {name}"
            moved, new_version = image != old_image, _is_new_version(image, target)
            if moved and not new_version:
                return f"{shown} would run {image}", "Deploy {folder} on its own" + AWAY
            if release != old_release and (release != target.release or not new_version):
                return (f"{shown} would record {release} in {env} but run {image} (it pins its "
                        "image itself)", "Set {env} in {folder} too, beside its pin of the "
                        "image (a patch), or remove the pin" + AWAY)
            if moved and release is not None and release != target.release:
                return (f"{shown} would run the new image with {env} {release} (it sets {env} "
                        "itself)", "Remove {folder}'s own {env}, or update it with its image"
                        + AWAY)
    return "", ""


def _is_new_version(image: str, target: Target) -> bool:
    """Whether a rendered image is the deploy's new one, under any name (an overlay that maps
    the image to a mirror with newName runs the same tag and digest)."""
    if image == str(target.image):
        return True
    ref = parsed_image(image)
    return ref is not None and ref.tag == target.image.tag and ref.digest == target.image.digest


def _env_value(container: Any, env: str) -> str | None:
    values = env_values(container, env)
    return values[-1] if values else None  # given twice, the pod gets the last one


def _without_images(obj: Any, env: str) -> Any:
    """A copy of ``obj`` without its containers' images and ``env`` entries."""
    import copy

    out = copy.deepcopy(obj)
    for _name, _image, _init, container in containers_of(out):
        container.pop("image", None)
        if isinstance(container.get("env"), list):
            container["env"] = [e for e in container["env"]
                                if not (isinstance(e, dict) and e.get("name") == env)]
            if not container["env"]:  # the release env var added where no env was
                container.pop("env")
    return out
