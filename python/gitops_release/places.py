"""Where a deploy may write: the places in an overlay's files that may decide the target's
image or release env var (a kustomization ``images:`` entry, a workload's container field, a
JSON6902 op, an env item), each with the exact edit that sets it, and the new ``images:``
entry or env item when there is none (see manifests for the precedence among them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitops_release import yamledit as y
from gitops_release.discovery import SourceFile, Tree
from gitops_release.errors import ManifestError
from gitops_release.proof import PROBE_HOST
from gitops_release.reference import ImageReference, same_repository
from gitops_release.targets import DEFAULT_POD_SPEC, POD_SPEC, Found, name_variants, parsed_image

JSON_IMAGE_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/(?:initContainers|containers)"
                           r"/(?:[0-9]+|-)/image")
# A JSON patch op that adds or replaces a whole container (an injected sidecar, say).
JSON_CONTAINER_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/"
                               r"(?:initContainers|containers)/(?:[0-9]+|-)")
JSON_ENV_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/(?:initContainers|containers)"
                         r"/[0-9]+/env/[0-9]+/value")
JSON_ENV_LIST_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/"
                              r"(?:initContainers|containers)/[0-9]+/env")
JSON_ENV_ITEM_RE = re.compile(r"/spec(?:/jobTemplate/spec)?/template/spec/"
                              r"(?:initContainers|containers)/[0-9]+/env/(?:[0-9]+|-)")


Edits = list[tuple[str, y.Edit, y.Intent]]


@dataclass
class Place:
    """A place in a file inside the overlay that may decide a value of the target."""

    file: SourceFile
    doc: int
    path: tuple[y.PathKey, ...]  # to the node to set (or the mapping/sequence to add to)
    kind: str  # entry | field | op | new-entry | env | env-op | running (no edit: runs it already)
    label: str
    edit: Callable[[str], Edits]


def set_value(file: SourceFile, doc: int, path: tuple[y.PathKey, ...], value: str, what: str) -> Edits:
    node = y.get_path(file.parsed.docs[doc], path)
    parent = y.get_path(file.parsed.docs[doc], path[:-1])
    edit = y.set_scalar(file.parsed, node, value, what, parent)
    return [(file.rel, edit, y.Intent("set", doc, path, value))] if edit else []


def set_or_add(file: SourceFile, doc: int, mapping_path: tuple[y.PathKey, ...], key: str,
                value: str, what: str) -> Edits:
    mapping = y.get_path(file.parsed.docs[doc], mapping_path)
    if y.get(mapping, key) is not None:
        return set_value(file, doc, (*mapping_path, key), value, what)
    return [(file.rel, y.add_key(file.parsed, mapping, key, value, what),
             y.Intent("add", doc, (*mapping_path, key), value))]


# -- finding places --------------------------------------------------------------------------

def entry_places(tree: Tree, found: Found, image: ImageReference) -> list[Place]:
    """The ``images:`` entries that may decide the target's image: the overlay kustomization's
    and those of the other kustomizations and Components of its tree that are inside the folder
    and not shared (prod/green's own entry, under prod listing blue and green: a new entry in
    prod moved both colours). The probe tells which one decides the target's image."""
    current = parsed_image(found.image)
    if current is None or tree.kustomization is None:
        return []
    owners = [tree.kustomization, *tree.kustomizations[1:]]
    places = []
    for kust in owners:
        if kust.file.inside:
            places += _entries_of(kust.file, current, image)
    return places


def _entries_of(file: SourceFile, current: ImageReference, image: ImageReference) -> list[Place]:
    doc = file.parsed.docs[0]
    places = []
    items = list(y.iter_items(y.get(doc, "images")))
    for index, entry in enumerate(items):
        name = y.scalar(y.get(entry, "name"))
        new_name = y.scalar(y.get(entry, "newName"))
        if name is None or not any(
                same_repository(current.name, n) for n in (name, new_name) if n):
            continue
        if new_name and any(new_name == y.scalar(y.get(later, "name"))
                            for later in items[index + 1:]):
            # a chain (argocd-image-updater leaves them): kustomize applies the entries in
            # order, so a later entry named as this one renames the image decides its tag
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
        return set_or_add(file, 0, path, "newName", value, what)
    edits: Edits = []
    if y.get(entry, "newName") is not None or name != image.name:
        edits += set_or_add(file, 0, path, "newName", image.name, what)
    edits += set_or_add(file, 0, path, "newTag", image.tag or "", what)
    if image.digest:
        edits += set_or_add(file, 0, path, "digest", image.digest, what)
    elif y.scalar(y.get(entry, "digest")):
        edits += set_value(file, 0, (*path, "digest"), "", what)  # an empty digest is no digest
    return edits


def _doc_matches(doc: Any, found: Found, tree: Tree, file: SourceFile | None = None) -> bool:
    """Whether ``doc`` (of ``file``) is, or patches, the target's workload: a strategic-merge
    patch listed with a ``target:`` selector applies to what the selector names, whatever its
    own ``metadata.name`` (kustomize's ``not-important`` idiom)."""
    prefixes, suffixes = tree.affixes
    names = name_variants(found.name, prefixes, suffixes)
    selector = file.patch_target if file is not None and file.role == "patch" else {}
    if any(selector.values()):
        # Only a selector that names exactly one workload makes the patch the target's own:
        # one that picks by kind, labels or a name pattern patches others too, so writing
        # there would change them (the planner then looks elsewhere, as for a base).
        pattern = selector.get("name", "")
        return selector.get("kind") in (None, "", found.kind) and bool(pattern) and \
            not is_pattern(pattern) and pattern in names and \
            not any(selector.get(k) for k in ("labelSelector", "annotationSelector"))
    kind, name = y.scalar(y.get(doc, "kind")), y.scalar(y.get_path(doc, ("metadata", "name")))
    if name is None and found.generated:
        name = y.scalar(y.get_path(doc, ("metadata", "generateName")))
    return kind == found.kind and name is not None and name in names


def is_pattern(name: str) -> bool:
    """Whether a kustomize target's ``name`` is a regular expression rather than one name."""
    return any(c in name for c in ".^$*+?{}[]\\|()")


def shared_holding(tree: Tree, found: Found) -> str:
    """The shared files inside the overlay folder that hold the target's workload, and the
    other kustomizations that use them ('' when none)."""
    return tree.shared_text({rel for rel in tree.shared if any(
        y.node_kind(doc) == "mapping" and _doc_matches(doc, found, tree, tree.files[rel])
        for doc in tree.files[rel].parsed.docs)})


def container_paths(tree: Tree, found: Found) -> list[tuple[SourceFile, int, tuple[y.PathKey, ...]]]:
    """Container mappings named like the target in documents inside the overlay."""
    out = []
    pod_path = POD_SPEC.get(found.kind, DEFAULT_POD_SPEC)
    for file in tree.inside():
        if file.role not in ("resource", "patch"):
            continue
        for d, doc in enumerate(file.parsed.docs):
            if y.node_kind(doc) != "mapping" or not _doc_matches(doc, found, tree, file):
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


def field_places(tree: Tree, found: Found) -> list[Place]:
    places = []
    for file, d, cpath in container_paths(tree, found):
        if y.get_path(file.parsed.docs[d], (*cpath, "image")) is None:
            continue
        path = (*cpath, "image")

        def edit(value: str, file: SourceFile = file, d: int = d,
                 path: tuple[y.PathKey, ...] = path) -> Edits:
            return set_value(file, d, path, value, "the container image")

        places.append(Place(file, d, path, "field",
                            f"{file.rel} ({found.kind}/{found.name} {found.container} image, "
                            f"line {y.line_of(y.get_path(file.parsed.docs[d], path))})", edit))
    return places + _op_places(tree, found, JSON_IMAGE_RE, "op", "image")


def _op_places(tree: Tree, found: Found, regex: re.Pattern[str], kind: str, what: str,
               env: str = "") -> list[Place]:
    places = []
    prefixes, suffixes = tree.affixes
    for file in tree.inside():
        selector = file.patch_target
        if file.role != "json6902" or selector.get("kind") not in (None, "", found.kind) or \
                selector.get("name", "") not in name_variants(found.name, prefixes, suffixes) | {""}:
            continue
        for index, op in enumerate(y.iter_items(file.parsed.docs[0] if file.parsed.docs else None)):
            op_path = y.scalar(y.get(op, "path")) or ""
            value = y.get(op, "value")
            path: tuple[y.PathKey, ...] = (index, "value")
            listed = [j for j, item in enumerate(y.iter_items(value))
                      if y.scalar(y.get(item, "name")) == env] \
                if kind == "env-op" and JSON_ENV_LIST_RE.fullmatch(op_path) and \
                y.node_kind(value) == "sequence" else []
            if kind == "env-op" and JSON_ENV_ITEM_RE.fullmatch(op_path) and \
                    y.node_kind(value) == "mapping" and y.scalar(y.get(value, "name")) == env:
                path = (index, "value", "value")
            elif len(listed) == 1:  # an op that sets the whole env list
                path = (index, "value", listed[0], "value")
            elif kind == "op" and _whole_container(op_path, value, found):
                path = (index, "value", "image")
            elif not (regex.fullmatch(op_path) and y.node_kind(value) == "scalar"):
                continue
            if y.scalar(y.get(op, "op")) in ("replace", "add"):

                def edit(value: str, file: SourceFile = file, path: tuple[y.PathKey, ...] = path) -> Edits:
                    return set_value(file, 0, path, value, f"the JSON patch {what} value")

                places.append(Place(file, 0, path, kind, f"{file.rel} (JSON patch op {index + 1})",
                                    edit))
    return places


def _whole_container(op_path: str, value: y.Node | None, found: Found) -> bool:
    """Whether a JSON patch op's value is the target container as a whole, with its image."""
    return JSON_CONTAINER_RE.fullmatch(op_path) is not None and \
        ("/initContainers/" in op_path) == found.init and y.node_kind(value) == "mapping" and \
        y.scalar(y.get(value, "name")) == found.container and \
        y.node_kind(y.get(value, "image")) == "scalar"


def new_entry_place(tree: Tree, found: Found, image: ImageReference) -> Place | None:
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


def no_second_entry(tree: Tree, found: Found) -> None:
    """Before a new ``images:`` entry that proved is written: when an entry of the image's name
    is there already, it does not decide the image (something after it does), and a second entry
    of the same name would leave the kustomization with two, which kustomize applies in order
    and no later deploy can edit."""
    current = parsed_image(found.image)
    if tree.kustomization is None or current is None:
        return
    file = tree.kustomization.file
    for entry in y.iter_items(y.get(file.parsed.docs[0], "images")):
        # kustomize matches an entry's name literally: "web" is not docker.io/library/web
        if y.scalar(y.get(entry, "name")) == current.name:
            name = current.name
            raise ManifestError(
                f"{file.rel} images: entry {name} (line {y.line_of(entry)}) does not decide the "
                f"image {found.label} runs, and another entry of that name would leave two; "
                "nothing was written",
                hint="Make that entry the one that sets the image (remove what overrides it "
                "after it), or remove the entry")


def env_places(tree: Tree, found: Found, env: str) -> list[Place]:
    places = []
    for file, d, cpath in container_paths(tree, found):
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
                return set_or_add(file, d, path, "value", value, f"env var {env}")

            places.append(Place(file, d, path, "env", f"{file.rel} (env {env}, line "
                                f"{y.line_of(item)})", edit))
    return places + _op_places(tree, found, JSON_ENV_RE, "env-op", "env", env)


def add_env(tree: Tree, found: Found, env: str, release: str,
             prefer: SourceFile | None) -> tuple[Edits, str] | None:
    """Add the release env var to the target container in a document inside the overlay."""
    paths = container_paths(tree, found)

    def has_env(path: tuple[SourceFile, int, tuple[y.PathKey, ...]]) -> bool:
        env_node = y.get(y.get_path(path[0].parsed.docs[path[1]], path[2]), "env")
        return y.node_kind(env_node) == "sequence" and not y.is_empty(env_node)

    # the container's env list where a document of the overlay has one (the var joins it, not
    # a second list in another patch), else the document that sets the image
    paths.sort(key=lambda p: (not has_env(p), p[0] is not prefer))
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
