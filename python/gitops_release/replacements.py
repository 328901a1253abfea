"""Kustomize ``replacements:`` that set a target container's image from another object's field
(a ConfigMap's ``data.<key>``, an annotation, ...).

kustomize copies the source value into the target after the other transformers of the same
kustomization, so an ``images:`` entry or a patch written in that kustomization (or below it)
does not decide the rendered image. The render proof catches such an edit; then the source
field is the place, when it is a single resource inside the overlay holding the whole image (the
proof then allows that field, and only it, to change as well); else the error names the
replacement (its file and line), its source object and field, and what to change.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_release import yamledit as y
from gitops_release.discovery import SourceFile, Tree, read_file
from gitops_release.errors import GitopsReleaseError
from gitops_release.targets import Found, dig, name_variants

SEGMENT_RE = re.compile(r"\[[^\]]*\]|[^.\[]+")


@dataclass(frozen=True)
class ImageReplacement:
    """A replacement whose target is the container's image."""

    where: str  # file:line of the replacement
    source: str  # Kind/name of the source object
    field: str  # the source's fieldPath
    field_path: str  # the target fieldPath that names the image
    whole: bool = True  # the source value is copied whole (no delimiter/index options)

    def describe(self) -> str:
        return (f"replacements: ({self.where}) copies {self.source} field {self.field} into "
                f"{self.field_path}")


def _segments(field_path: str) -> list[str]:
    return SEGMENT_RE.findall(field_path)


def sets_image(field_path: str, found: Found) -> bool:
    """Whether ``field_path`` (kustomize's ``a.b.[name=x].c`` syntax) may name ``found``'s
    image: a containers list of the pod, an item that is the container (by ``[name=...]``; an
    index or ``*`` is taken as it), then ``image``."""
    parts = _segments(field_path)
    key = "initContainers" if found.init else "containers"
    if len(parts) < 3 or parts[-1] != "image" or parts[-3] != key:
        return False
    item = parts[-2]
    named = re.fullmatch(r"\[name=(.*)\]", item)
    return named is None or named.group(1) == found.container


def _selects(select: y.Node, found: Found, prefixes: Sequence[str],
             suffixes: Sequence[str]) -> bool:
    if select is None or y.node_kind(select) != "mapping":
        return False
    kind, name = y.scalar(y.get(select, "kind")), y.scalar(y.get(select, "name"))
    names = name_variants(found.name, prefixes, suffixes)
    return (not kind or kind == found.kind) and (not name or name in names)


def _replacements(tree: Tree) -> Iterator[tuple[str, y.Node]]:
    """(file:line, replacement mapping) of every kustomization of the tree, files included."""
    for kust in tree.kustomizations:
        doc = kust.file.parsed.docs[0]
        for item in y.iter_items(y.get(doc, "replacements")):
            ref = y.scalar(y.get(item, "path"))
            if ref is None:
                yield f"{kust.file.rel}:{y.line_of(item)}", item
                continue
            rel = posixpath.normpath(posixpath.join(kust.folder, ref))
            if rel not in tree.other_files:
                continue  # remote or outside: only the renderer reads it
            try:
                parsed = y.parse(read_file(tree.root / rel, rel)[0], rel)
            except GitopsReleaseError:
                continue  # the render reported it already
            for node in parsed.docs[:1]:
                items = y.iter_items(node) if y.node_kind(node) == "sequence" else iter([node])
                for one in items:
                    yield f"{rel}:{y.line_of(one)}", one


def _targeting(tree: Tree, found: Found) -> Iterator[tuple[str, y.Node, y.Node, str]]:
    """(file:line, source, target, field path) of every replacement field path of the tree
    whose target selects ``found``'s workload."""
    prefixes, suffixes = tree.affixes
    for where, item in _replacements(tree):
        if y.node_kind(item) != "mapping":
            continue
        source = y.get(item, "source")
        for target in y.iter_items(y.get(item, "targets")):
            if _selects(y.get(target, "select"), found, prefixes, suffixes):
                for path in y.iter_items(y.get(target, "fieldPaths")):
                    yield where, source, target, y.scalar(path) or ""


def _source_of(source: y.Node) -> tuple[str, str]:
    """A replacement source's ``Kind/name`` and field."""
    kind, name = y.scalar(y.get(source, "kind")), y.scalar(y.get(source, "name"))
    return f"{kind or '?'}/{name or '?'}", y.scalar(y.get(source, "fieldPath")) or "metadata.name"


def env_replacements(tree: Tree, found: Found, env: str) -> list[str]:
    """The replacements of the tree that set ``found``'s env var ``env`` ("file:line copies
    Kind/name field"): kustomize applies them after patches, so a patch cannot set it."""
    out: list[str] = []
    for where, source, _target, text in _targeting(tree, found):
        shown = f"{where} copies {' '.join(_source_of(source))}"
        if f"[name={env}]" in text and shown not in out:
            out.append(shown)
    return out


def image_replacements(tree: Tree, found: Found) -> list[ImageReplacement]:
    """The replacements of the tree that set ``found``'s image."""
    out = []
    for where, source, target, text in _targeting(tree, found):
        if sets_image(text, found):
            whole = y.get(target, "options") is None and y.get(source, "options") is None
            out.append(ImageReplacement(where, *_source_of(source), text, whole))
    return out


def source_field(tree: Tree, found: Found,
                 replacement: ImageReplacement) -> tuple[SourceFile, int, tuple[str, ...]] | None:
    """Where the receiver may write the image the replacement copies: the source object's field
    in a resource file inside the overlay, holding the image that renders now, copied whole.
    None when there is no such single place (a generator, a base shared by other overlays, a
    field with list selectors, a part of a value)."""
    kind, _, name = replacement.source.partition("/")
    if not replacement.whole or "[" in replacement.field or "?" in (kind, name):
        return None
    path = tuple(replacement.field.split("."))
    hits = []
    for file in tree.files.values():
        for d, doc in enumerate(file.parsed.docs):
            if y.scalar(y.get(doc, "kind")) == kind and \
                    y.scalar(y.get_path(doc, ("metadata", "name"))) == name:
                hits.append((file, d, path, y.get_path(doc, path)))
    if len(hits) != 1:
        return None
    file, d, path, node = hits[0]
    if not file.inside or file.role != "resource" or y.scalar(node) != found.image:
        return None
    return file, d, path


def with_source(render: list[Any], tree: Tree, replacement: ImageReplacement,
                value: str) -> list[Any] | None:
    """``render`` with the replacement's source field set to ``value`` (what the edit of the
    source may change besides the target); None when the render holds no single source."""
    kind, _, name = replacement.source.partition("/")
    prefixes, suffixes = tree.affixes
    hits = [i for i, obj in enumerate(render) if isinstance(obj, dict) and obj.get("kind") == kind
            and name in name_variants(str(dig(obj, ("metadata", "name"))), prefixes, suffixes)]
    if len(hits) != 1:
        return None
    *parents, last = replacement.field.split(".")
    copy = dict(render[hits[0]])
    node = copy
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            return None
        node[key] = node = dict(child)
    if not isinstance(node.get(last), str):
        return None
    node[last] = value
    return [*render[:hits[0]], copy, *render[hits[0] + 1:]]
