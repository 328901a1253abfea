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
import difflib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release import yamledit as y
from gitops_release.discovery import SourceFile, Tree
from gitops_release.errors import ManifestError
from gitops_release.reference import ImageReference, same_repository
from gitops_release.render import Scratch, render_plain
from gitops_release.targets import (
    DEFAULT_POD_SPEC,
    POD_SPEC,
    Found,
    Wanted,
    containers_of,
    dig,
    name_variants,
    object_name,
    parsed_image,
    select,
)

PROBE_HOST = "probe.gitops-release.invalid"


class OutsideOverlayError(ManifestError):
    """What decides the target's image or release env var lies outside the overlay folder."""

JSON_IMAGE_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/(?:initContainers|containers)"
                           r"/(?:[0-9]+|-)/image")
# A JSON patch op that adds or replaces a whole container (an injected sidecar, say).
JSON_CONTAINER_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/"
                               r"(?:initContainers|containers)/(?:[0-9]+|-)")
JSON_ENV_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/(?:initContainers|containers)"
                         r"/[0-9]+/env/[0-9]+/value")
JSON_ENV_ITEM_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/"
                              r"(?:initContainers|containers)/[0-9]+/env/(?:[0-9]+|-)")


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


Edits = list[tuple[str, y.Edit, y.Intent]]


@dataclass
class Place:
    """A place in a file inside the overlay that may decide a value of the target."""

    file: SourceFile
    doc: int
    path: tuple[y.PathKey, ...]  # to the node to set (or the mapping/sequence to add to)
    kind: str  # entry | field | op | new-entry | env | env-op
    label: str
    edit: Callable[[str], Edits]


def _set(file: SourceFile, doc: int, path: tuple[y.PathKey, ...], value: str, what: str) -> Edits:
    node = y.get_path(file.parsed.docs[doc], path)
    parent = y.get_path(file.parsed.docs[doc], path[:-1])
    edit = y.set_scalar(file.parsed, node, value, what, parent)
    return [(file.rel, edit, y.Intent("set", doc, path, value))] if edit else []


def _set_or_add(file: SourceFile, doc: int, mapping_path: tuple[y.PathKey, ...], key: str,
                value: str, what: str) -> Edits:
    mapping = y.get_path(file.parsed.docs[doc], mapping_path)
    if y.get(mapping, key) is not None:
        return _set(file, doc, (*mapping_path, key), value, what)
    return [(file.rel, y.add_key(file.parsed, mapping, key, value, what),
             y.Intent("add", doc, (*mapping_path, key), value))]


# -- finding places --------------------------------------------------------------------------

def _entry_places(tree: Tree, found: Found, image: ImageReference) -> list[Place]:
    """The ``images:`` entries that may decide the target's image: the overlay kustomization's
    and those of the Components of its tree that are inside the folder and not shared."""
    current = parsed_image(found.image)
    if current is None or tree.kustomization is None:
        return []
    owners = [tree.kustomization] + [
        k for k in tree.kustomizations[1:]
        if y.scalar(y.get(k.file.parsed.docs[0], "kind")) == "Component"]
    places = []
    for kust in owners:
        if kust.file.inside:
            places += _entries_of(kust.file, current, image)
    return places


def _entries_of(file: SourceFile, current: ImageReference, image: ImageReference) -> list[Place]:
    doc = file.parsed.docs[0]
    places = []
    for index, entry in enumerate(y.iter_items(y.get(doc, "images"))):
        name = y.scalar(y.get(entry, "name"))
        new_name = y.scalar(y.get(entry, "newName"))
        if name is None or not any(
                same_repository(current.name, n) for n in (name, new_name) if n):
            continue
        path: tuple[y.PathKey, ...] = ("images", index)

        def edit(value: str, entry: Any = entry, path: tuple[y.PathKey, ...] = path,
                 name: str = name) -> Edits:
            return _entry_edits(file, path, entry, name, value, image)

        places.append(Place(file, 0, path, "entry", f"{file.rel} images: entry {name}", edit))
    names = [p.label for p in places]
    twice = sorted({label for label in names if names.count(label) > 1})
    if twice:
        raise ManifestError(
            f"{file.rel} has {names.count(twice[0])} images: entries named "
            f"{twice[0].rsplit(' ', 1)[1]}; kustomize applies every one of them in order, so no "
            "single entry decides the image", hint="Keep one images: entry per image name")
    return places


def _entry_edits(file: SourceFile, path: tuple[y.PathKey, ...], entry: Any, name: str,
                 value: str, image: ImageReference) -> Edits:
    what = f"the images: entry {name}"
    if value.startswith(PROBE_HOST):
        return _set_or_add(file, 0, path, "newName", value, what)
    edits: Edits = []
    if y.get(entry, "newName") is not None or name != image.name:
        edits += _set_or_add(file, 0, path, "newName", image.name, what)
    edits += _set_or_add(file, 0, path, "newTag", image.tag or "", what)
    if image.digest:
        edits += _set_or_add(file, 0, path, "digest", image.digest, what)
    elif y.scalar(y.get(entry, "digest")):
        edits += _set(file, 0, (*path, "digest"), "", what)  # an empty digest is no digest
    return edits


def _doc_matches(doc: Any, found: Found, tree: Tree) -> bool:
    kind, name = y.scalar(y.get(doc, "kind")), y.scalar(y.get_path(doc, ("metadata", "name")))
    if name is None and found.generated:
        name = y.scalar(y.get_path(doc, ("metadata", "generateName")))
    prefixes = [k.name_prefix for k in tree.kustomizations]
    suffixes = [k.name_suffix for k in tree.kustomizations]
    return kind == found.kind and name is not None and \
        name in name_variants(found.name, prefixes, suffixes)


def _shared_holding(tree: Tree, found: Found) -> str:
    """The shared files inside the overlay folder that hold the target's workload, and the
    other kustomizations that use them ('' when none)."""
    return tree.shared_text({rel for rel in tree.shared if any(
        y.node_kind(doc) == "mapping" and _doc_matches(doc, found, tree)
        for doc in tree.files[rel].parsed.docs)})


def _container_paths(tree: Tree, found: Found) -> list[tuple[SourceFile, int, tuple[y.PathKey, ...]]]:
    """Container mappings named like the target in documents inside the overlay."""
    out = []
    pod_path = POD_SPEC.get(found.kind, DEFAULT_POD_SPEC)
    for file in tree.inside():
        if file.role not in ("resource", "patch"):
            continue
        for d, doc in enumerate(file.parsed.docs):
            if y.node_kind(doc) != "mapping" or not _doc_matches(doc, found, tree):
                continue
            key = "initContainers" if found.init else "containers"
            hits = [i for i, item in enumerate(y.iter_items(y.get_path(doc, (*pod_path, key))))
                    if y.scalar(y.get(item, "name")) == found.container]
            if len(hits) > 1:
                raise ManifestError(f"{file.rel} has {len(hits)} containers named "
                                    f"{found.container!r} in one pod (line {y.line_of(doc)})",
                                    hint="Container names must be unique within a pod")
            out += [(file, d, (*pod_path, key, i)) for i in hits]
    return out


def _field_places(tree: Tree, found: Found) -> list[Place]:
    places = []
    for file, d, cpath in _container_paths(tree, found):
        if y.get_path(file.parsed.docs[d], (*cpath, "image")) is None:
            continue
        path = (*cpath, "image")

        def edit(value: str, file: SourceFile = file, d: int = d,
                 path: tuple[y.PathKey, ...] = path) -> Edits:
            return _set(file, d, path, value, "the container image")

        places.append(Place(file, d, path, "field",
                            f"{file.rel} ({found.kind}/{found.name} {found.container} image, "
                            f"line {y.line_of(y.get_path(file.parsed.docs[d], path))})", edit))
    return places + _op_places(tree, found, JSON_IMAGE_RE, "op", "image")


def _op_places(tree: Tree, found: Found, regex: re.Pattern[str], kind: str, what: str,
               env: str = "") -> list[Place]:
    places = []
    prefixes = [k.name_prefix for k in tree.kustomizations]
    suffixes = [k.name_suffix for k in tree.kustomizations]
    for file in tree.inside():
        selector = file.patch_target
        if file.role != "json6902" or selector.get("kind") not in (None, "", found.kind) or \
                selector.get("name", "") not in name_variants(found.name, prefixes, suffixes) | {""}:
            continue
        for index, op in enumerate(y.iter_items(file.parsed.docs[0] if file.parsed.docs else None)):
            op_path = y.scalar(y.get(op, "path")) or ""
            value = y.get(op, "value")
            path: tuple[y.PathKey, ...] = (index, "value")
            if kind == "env-op" and JSON_ENV_ITEM_RE.fullmatch(op_path) and \
                    y.node_kind(value) == "mapping" and y.scalar(y.get(value, "name")) == env:
                path = (index, "value", "value")
            elif kind == "op" and _whole_container(op_path, value, found):
                path = (index, "value", "image")
            elif not (regex.fullmatch(op_path) and y.node_kind(value) == "scalar"):
                continue
            if y.scalar(y.get(op, "op")) in ("replace", "add"):

                def edit(value: str, file: SourceFile = file, path: tuple[y.PathKey, ...] = path) -> Edits:
                    return _set(file, 0, path, value, f"the JSON patch {what} value")

                places.append(Place(file, 0, path, kind, f"{file.rel} (JSON patch op {index + 1})",
                                    edit))
    return places


def _whole_container(op_path: str, value: y.Node | None, found: Found) -> bool:
    """Whether a JSON patch op's value is the target container as a whole, with its image."""
    return JSON_CONTAINER_RE.fullmatch(op_path) is not None and \
        ("/initContainers/" in op_path) == found.init and y.node_kind(value) == "mapping" and \
        y.scalar(y.get(value, "name")) == found.container and \
        y.node_kind(y.get(value, "image")) == "scalar"


def _new_entry_place(tree: Tree, found: Found, image: ImageReference) -> Place | None:
    kust = tree.kustomization
    current = parsed_image(found.image)
    if kust is None or not kust.file.inside or current is None:
        return None
    doc = kust.file.parsed.docs[0]

    def edit(value: str) -> Edits:
        entry: dict[str, str] = {"name": current.name}
        if value.startswith(PROBE_HOST):
            entry["newName"] = value
        else:
            if image.name != current.name:
                entry["newName"] = image.name
            entry["newTag"] = image.tag or ""
            if image.digest:
                entry["digest"] = image.digest
        images = y.get(doc, "images")
        if y.is_empty(images):
            return [(kust.file.rel, y.put_block(kust.file.parsed, doc, "images", [entry],
                                                "images:"), y.Intent("put", 0, ("images",), [entry]))]
        if images is None:
            return [(kust.file.rel, y.add_key(kust.file.parsed, doc, "images", [entry],
                                              kust.file.rel), y.Intent("add", 0, ("images",), [entry]))]
        return [(kust.file.rel, y.append_item(kust.file.parsed, images, entry, "images:"),
                 y.Intent("append", 0, ("images",), entry))]

    return Place(kust.file, 0, ("images",), "new-entry",
                 f"{kust.file.rel} (new images: entry {current.name})", edit)


def _env_places(tree: Tree, found: Found, env: str) -> list[Place]:
    places = []
    for file, d, cpath in _container_paths(tree, found):
        items = list(y.iter_items(y.get_path(file.parsed.docs[d], (*cpath, "env"))))
        hits = [j for j, item in enumerate(items) if y.scalar(y.get(item, "name")) == env]
        named = [items[j] for j in hits]
        if len(named) > 1:
            raise ManifestError(f"{file.rel} sets the env var {env} {len(named)} times in "
                                f"container {found.container} (lines "
                                f"{', '.join(str(y.line_of(i)) for i in named)})",
                                hint="Keep one; Kubernetes uses the last and warns")
        for j, item in zip(hits, named, strict=True):
            if y.get(item, "valueFrom") is not None:
                raise ManifestError(f"{file.rel}: env var {env} uses valueFrom, so it cannot hold "
                                    "the release", hint="Use another 'release-env' name or a value")
            path = (*cpath, "env", j)

            def edit(value: str, file: SourceFile = file, d: int = d,
                     path: tuple[y.PathKey, ...] = path) -> Edits:
                return _set_or_add(file, d, path, "value", value, f"env var {env}")

            places.append(Place(file, d, path, "env", f"{file.rel} (env {env}, line "
                                f"{y.line_of(item)})", edit))
    return places + _op_places(tree, found, JSON_ENV_RE, "env-op", "env", env)


def _add_env(tree: Tree, found: Found, env: str, release: str,
             prefer: SourceFile | None) -> tuple[Edits, str] | None:
    """Add the release env var to the target container in a document inside the overlay."""
    paths = _container_paths(tree, found)
    paths.sort(key=lambda p: p[0] is not prefer)
    if not paths:
        return None
    file, d, cpath = paths[0]
    doc = file.parsed.docs[d]
    container = y.get_path(doc, cpath)
    env_node = y.get(container, "env")
    item = {"name": env, "value": release}
    if y.is_empty(env_node):
        edit = y.put_block(file.parsed, container, "env", [item], "the container's env")
        return [(file.rel, edit, y.Intent("put", d, (*cpath, "env"), [item]))], file.rel
    if env_node is None:
        edit = y.add_key(file.parsed, container, "env", [item], "the container")
        return [(file.rel, edit, y.Intent("add", d, (*cpath, "env"), [item]))], file.rel
    if y.node_kind(env_node) != "sequence":
        raise ManifestError(f"{file.rel}: env of container {found.container} (line "
                            f"{y.line_of(env_node)}) is not a list")
    edit = y.append_item(file.parsed, env_node, item, "env")
    return [(file.rel, edit, y.Intent("append", d, (*cpath, "env"), item))], file.rel


# -- rendering and the proof -----------------------------------------------------------------

def _apply(tree: Tree, edits: Edits) -> dict[str, str]:
    by_file: dict[str, list[y.Edit]] = {}
    for rel, edit, _ in edits:
        by_file.setdefault(rel, []).append(edit)
    return {rel: y.apply_edits(tree.files[rel].text, items, rel) for rel, items in by_file.items()}


class Renderer:
    """Renders the overlay's variants: kustomize in a scratch copy, or a plain folder's docs."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.scratch = Scratch(tree) if tree.kustomization is not None else None
        self.count = 0
        self.seconds = 0.0

    def __call__(self, texts: dict[str, str]) -> list[Any]:
        self.count += 1
        start = time.perf_counter()
        try:
            if self.scratch is not None:
                return self.scratch.render(texts)
            return render_plain(self.tree, texts)
        finally:
            self.seconds += time.perf_counter() - start

    def close(self) -> None:
        if self.scratch is not None:
            self.scratch.close()

    @property
    def proof(self) -> str:
        if self.scratch is None:
            return "plain folder: every document of its YAML files compared before and after"
        from gitops_release.render import kustomize_command

        return f"rendered with `{' '.join(kustomize_command() or ['kustomize'])}` before and after"


def _locate(render: list[Any], found: Found) -> dict[str, Any] | None:
    for obj in render:
        if isinstance(obj, dict) and obj.get("kind") == found.kind and \
                object_name(obj) == found.name:
            for name, _image, init, container in containers_of(obj):
                if name == found.container and init == found.init:
                    return container
    return None


def _markers(render: list[Any], skip: dict[str, Any] | None) -> set[str]:
    """The probe markers running in containers other than the target."""
    out = set()
    for obj in render:
        if isinstance(obj, dict):
            for _n, image, _i, container in containers_of(obj):
                if container is not skip and PROBE_HOST in image:
                    out.add(image)
                for env in container.get("env") or []:
                    if container is not skip and isinstance(env, dict) and \
                            PROBE_HOST in str(env.get("value", "")):
                        out.add(str(env.get("value")))
    return out


def _probe(renderer: Renderer, places: list[Place], found: Found, env: str) -> tuple[
        Place | None, Place | None]:
    """One render with a marker in every place: which place decides the image, which the env."""
    edits: Edits = []
    for i, place in enumerate(places):
        marker = f"{PROBE_HOST}/p{i}" + (":t" if place.kind in ("field", "op") else "")
        edits += place.edit(marker)
    render = renderer(_apply(renderer.tree, edits))
    target = _locate(render, found)
    if target is None:
        return None, None
    image = str(target.get("image", ""))
    envs = [str(e.get("value", "")) for e in target.get("env") or []
            if isinstance(e, dict) and e.get("name") == env]

    def which(value: str) -> Place | None:
        match = re.match(re.escape(PROBE_HOST) + r"/p([0-9]+)", value)
        return places[int(match.group(1))] if match else None

    chosen = which(image)
    if chosen is not None:
        marker = f"{PROBE_HOST}/p{places.index(chosen)}"
        if any(m == marker or m.startswith(marker + ":") for m in _markers(render, target)):
            raise ManifestError(f"{chosen.label} also sets the image of containers other than "
                                f"{found.label}, so it cannot deploy the target alone",
                                hint="Give the target its own images: entry or patch, or set "
                                "'workload'/'container'")
    return chosen, (which(envs[0]) if envs else None)


def _diff(before: list[Any], after: list[Any]) -> str:
    from io import StringIO

    from ruamel.yaml import YAML

    def dump(objs: list[Any]) -> list[str]:
        out = StringIO()
        YAML(typ="safe", pure=True).dump_all(objs, out)
        return out.getvalue().splitlines(keepends=True)

    lines = list(difflib.unified_diff(dump(before), dump(after), "expected render",
                                      "render of the planned edit", n=2))
    return "".join(lines[:60])


def _target_index(render: list[Any], found: Found) -> int | None:
    for index, obj in enumerate(render):
        if isinstance(obj, dict) and obj.get("kind") == found.kind and \
                object_name(obj) == found.name:
            return index
    return None


def _copy_target(obj: Any, found: Found, env: str) -> Any:
    """A copy of the workload ``obj`` in which what :func:`_proven` sets is new: the dicts down
    to the pod, the target's container list, the target container, its env list and its env
    items named ``env``; the rest is shared with ``obj`` (and never changed)."""
    if not isinstance(obj, dict):
        return obj
    out = node = dict(obj)
    for key in POD_SPEC.get(found.kind, DEFAULT_POD_SPEC):
        child = node.get(key)
        if not isinstance(child, dict):
            return out
        node[key] = node = dict(child)
    key = "initContainers" if found.init else "containers"
    items = node.get(key)
    if isinstance(items, list):
        node[key] = items = [dict(c) if isinstance(c, dict) and c.get("name") == found.container
                             else c for c in items]
        for container in items:
            if isinstance(container, dict) and container.get("name") == found.container and \
                    isinstance(container.get("env"), list):
                container["env"] = [dict(e) if isinstance(e, dict) and e.get("name") == env else e
                                    for e in container["env"]]
    return out


def _proven(before: list[Any], after: list[Any], found: Found, image: ImageReference,
            env: str, release: str, env_planned: bool) -> tuple[bool, list[Any]]:
    """Whether ``after`` is ``before`` with only the target's image and release env var set as
    the deploy must set them; and the expected render (for the error's difference)."""
    index = _target_index(before, found)
    if index is None or len(before) != len(after) or _target_index(after, found) != index:
        return False, before
    expected_obj = _copy_target(before[index], found, env)
    expected = [*before[:index], expected_obj, *before[index + 1:]]
    old, new = _locate([expected_obj], found), _locate(after, found)
    if old is None or new is None:
        return False, expected
    rendered = parsed_image(str(new.get("image", "")))
    if rendered is not None and same_repository(rendered.name, image.name) and (
            (image.digest is None and rendered.digest is None and rendered.tag == image.tag)
            or (image.digest is not None and rendered.digest == image.digest
                and rendered.tag in (None, image.tag))):
        old["image"] = new.get("image")
    else:
        old["image"] = str(image)
    if env_planned:
        items = old["env"] = old.get("env") or []  # an empty env: renders as ''
        hit = [e for e in items if isinstance(e, dict) and e.get("name") == env]
        if hit:
            hit[0]["value"] = release
        else:  # a new env var: where the render merges it in is the renderer's business
            got = new.get("env") or []
            added = [e for e in got if isinstance(e, dict) and e.get("name") == env]
            rest = [e for e in got if not (isinstance(e, dict) and e.get("name") == env)]
            if rest == items and added == [{"name": env, "value": release}]:
                old["env"] = got
            else:
                items.append({"name": env, "value": release})
    same = after[index] == expected_obj and all(
        a == b for i, (a, b) in enumerate(zip(before, after, strict=True)) if i != index)
    return same, expected


# -- the plan --------------------------------------------------------------------------------

def _pick(renderer: Renderer, tree: Tree, found: Found, target: Target) -> tuple[
        Place | None, Place | None, list[str]]:
    """The places that decide the target's image and release env var."""
    notes: list[str] = []
    entries = _entry_places(tree, found, target.image)
    fields = _field_places(tree, found)
    envs = _env_places(tree, found, target.release_env) if target.release_env else []
    image_place: Place | None = None
    env_place: Place | None = envs[0] if len(envs) == 1 else None
    if len(entries) + len(fields) == 1 and len(envs) <= 1:
        return (entries + fields)[0], env_place, notes
    if entries or len(envs) > 1:
        image_place, probed_env = _probe(renderer, entries + envs, found, target.release_env)
        env_place = probed_env or env_place
    if image_place is None and fields:
        image_place, _ = _probe(renderer, fields, found, target.release_env)
        if image_place is None:
            notes.append("no workload field inside the overlay decides the image: "
                         + ", ".join(p.label for p in fields) + " are overridden")
    return image_place, env_place, notes


def read_image(root: Path, folder: str, app: str, event: str, container: str = "") -> str | None:
    """The image the overlay at ``folder`` renders for ``app`` (no edit, nothing written)."""
    from gitops_release.discovery import discover
    from gitops_release.targets import KINDS

    kinds = KINDS["jobs" if event == "new-job-image" else "workloads"]
    tree = discover(root, folder)
    renderer = Renderer(tree)
    try:
        render = renderer({})
    finally:
        renderer.close()
    prefixes = [k.name_prefix for k in tree.kustomizations]
    suffixes = [k.name_suffix for k in tree.kustomizations]
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


class _Started(Exception):
    """A planning pass ahead of the "before" render reached its first render, now started."""


class _Ahead(Renderer):
    """Renders for a planning pass made before the "before" render exists: that render is a
    guess (see ``render_ahead``); any other is started in the background and ends the pass."""

    def __init__(self, tree: Tree, guess: list[Any]) -> None:
        self.tree, self.guess, self.scratch, self.count, self.seconds = tree, guess, None, 0, 0.0

    def __call__(self, texts: dict[str, str]) -> list[Any]:
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


def _plan_workload(renderer: Renderer, tree: Tree, target: Target,
                   kinds: Sequence[str], new_entry: bool) -> OverlayPlan:
    before = renderer({})
    prefixes = [k.name_prefix for k in tree.kustomizations]
    suffixes = [k.name_suffix for k in tree.kustomizations]
    found = select(before, Wanted(target.app, target.image.name, tuple(kinds), target.workload,
                                  target.container), prefixes, suffixes, tree.overlay)
    plan = OverlayPlan(tree.overlay, previous_image=found.image, target=found.label)
    _container_paths(tree, found)  # refuses a pod with two containers of the target's name
    current = parsed_image(found.image)
    plan.previous_version = current.tag if current is not None else None
    old_env = _locate(before, found) or {}
    env_values = [str(e.get("value", "")) for e in old_env.get("env") or []
                  if isinstance(e, dict) and e.get("name") == target.release_env]
    if plan.previous_version is None and env_values and "@" in env_values[0]:
        plan.previous_version = env_values[0].rsplit("@", 1)[1]
    if current is not None and not same_repository(current.name, target.image.name) and \
            not target.allow_repository_change:
        plan.refusal = Refusal("policy", f"{found.label} in {tree.overlay} runs {current.name}, "
                               f"and the new image is {target.image.name}: a target's image "
                               "repository never changes unless the policy allows it")
        return plan
    image_place, env_place, plan.notes = _pick(renderer, tree, found, target)
    plan.notes += tree.notes
    if image_place is None and not new_entry:
        raise OutsideOverlayError(f"{tree.overlay} takes the image of {found.label} from outside "
                                  "its folder")
    tries = [image_place] + ([None] if image_place is not None and tree.kustomization is not None
                             and image_place.kind != "new-entry" and new_entry else [])
    for place in tries:
        edits, texts, after, proven, expected = _attempt(renderer, (found, target), place,
                                                         (env_place, env_values), plan, before)
        if proven:
            break
    else:
        edits, texts = _through_replacement(renderer, (before, after, expected), found, target,
                                            env_place, env_values, plan)
    plan.proof = f"{renderer.proof} ({renderer.count} renders)"
    plan.render_seconds = renderer.seconds
    plan.changes = _changes(tree, edits, texts, plan)
    return plan


def _attempt(renderer: Renderer, want: tuple[Found, Target], place: Place | None,
             env: tuple[Place | None, list[str]], plan: OverlayPlan, before: list[Any]) -> tuple[
        Edits, dict[str, str], list[Any], bool, list[Any]]:
    """Plan the edit through ``place`` and render it: the edits, the texts, the render, whether
    it is ``before`` with only the target changed as it must be, and the render expected."""
    found, target = want
    plan.places = []
    edits, env_planned = _edits(renderer.tree, found, target, place, env[0], env[1], plan)
    texts = _apply(renderer.tree, edits)
    after = renderer(texts)
    proven, expected = _proven(before, after, found, target.image, target.release_env,
                               target.release, env_planned)
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
    rendered = _locate(after, found)
    replaced = [] if rendered is not None and str(rendered.get("image", "")) == \
        str(target.image) else image_replacements(tree, found)
    source = source_field(tree, found, replaced[0]) if len(replaced) == 1 else None
    allowed = with_source(before, tree, replaced[0], str(target.image)) if source else None
    if source is not None and allowed is not None:
        file, d, path = source

        def edit(value: str) -> Edits:
            return _set(file, d, path, value, f"the replacement source {replaced[0].source}")

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
    shared = _shared_holding(tree, found)
    raise ManifestError(f"the planned edit of {tree.overlay} does not render as the deploy "
                        f"needs (only {found.label}'s image and {target.release_env} may "
                        f"change); nothing was written"
                        + (f" (files that other kustomizations use are not edited: {shared})"
                           if shared else "") + f". Render difference:\n{_diff(expected, after)}",
                        hint="Set 'workload'/'container'; or set the target's image in a "
                        "patch of the overlay (an images: entry changes every container that "
                        "runs the image, a patch only the one it names)" + (
                            "; or set its image in a patch or file of the overlay that no other "
                            "kustomization uses" if shared else ""))


def _edits(tree: Tree, found: Found, target: Target, image_place: Place | None,
           env_place: Place | None, env_values: list[str], plan: OverlayPlan) -> tuple[Edits, bool]:
    if image_place is None:
        image_place = _new_entry_place(tree, found, target.image)
        if image_place is None:
            raise OutsideOverlayError(f"{tree.overlay}: the image of {found.label} comes from outside "
                                "the overlay folder and the overlay has no kustomization to add "
                                "an images: entry to", hint="Point 'path' at the overlay that "
                                "sets the image, or add a kustomization.yaml to it")
    value = str(target.image)
    edits = image_place.edit(value)
    plan.places.append(image_place.label)
    env_planned = bool(target.release_env)
    if not target.release_env:
        pass
    elif env_place is not None:
        edits += env_place.edit(target.release)
        plan.places.append(env_place.label)
    elif env_values:
        where = sorted({f.rel for f in tree.files.values() if not f.inside and f.role != "kustomization"
                        and re.search(r"\b" + re.escape(target.release_env) + r"\b", f.text)})
        raise OutsideOverlayError(f"{found.label} gets {target.release_env} from "
                            f"{', '.join(where) or 'a file outside ' + tree.overlay}, which other "
                            "overlays share; the release cannot be recorded in this overlay alone",
                            hint=f"Set {target.release_env} in a patch inside the overlay, or "
                            "remove it from the base")
    else:
        added = _add_env(tree, found, target.release_env, target.release,
                         image_place.file if image_place.kind == "field" else None)
        if added is None:
            env_planned = False
            shared = _shared_holding(tree, found)
            plan.notes.append(f"{target.release_env} not written: no document inside "
                              f"{tree.overlay} holds {found.label}"
                              + (f" that no other kustomization uses ({shared})" if shared else "")
                              + "; add a patch for it to record releases")
        else:
            edits += added[0]
            plan.places.append(f"{added[1]} (new env {target.release_env})")
    return edits, env_planned


def _changes(tree: Tree, edits: Edits, texts: dict[str, str], plan: OverlayPlan) -> list[FileChange]:
    changes = []
    for rel, text in texts.items():
        file = tree.files[rel]
        y.verify(file.parsed, text, [intent for r, _, intent in edits if r == rel])
        changes.append(FileChange(file.path, file.on_disk(file.text), file.on_disk(text),
                                  plan.previous_image, plan.previous_version, "workload"))
    return changes
