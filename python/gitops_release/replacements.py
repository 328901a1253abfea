"""Kustomize ``replacements:`` that set a target container's image from another object's field
(a ConfigMap's ``data.<key>``, an annotation, ...).

kustomize copies the source value into the target after the other transformers of the same
kustomization, so an ``images:`` entry or a patch written in that kustomization (or below it)
does not decide the rendered image. The render proof catches such an edit; this module names
the replacement (its file and line), its source object and field, so that the error says where
the image really comes from and what to change.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gitops_release import yamledit as y
from gitops_release.discovery import Tree, read_file
from gitops_release.errors import GitopsReleaseError
from gitops_release.targets import Found, name_variants

SEGMENT_RE = re.compile(r"\[[^\]]*\]|[^.\[]+")


@dataclass(frozen=True)
class ImageReplacement:
    """A replacement whose target is the container's image."""

    where: str  # file:line of the replacement
    source: str  # Kind/name of the source object
    field: str  # the source's fieldPath
    field_path: str  # the target fieldPath that names the image

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


def image_replacements(tree: Tree, found: Found) -> list[ImageReplacement]:
    """The replacements of the tree that set ``found``'s image."""
    prefixes = [k.name_prefix for k in tree.kustomizations]
    suffixes = [k.name_suffix for k in tree.kustomizations]
    out = []
    for where, item in _replacements(tree):
        if y.node_kind(item) != "mapping":
            continue
        source = y.get(item, "source")
        kind, name = y.scalar(y.get(source, "kind")), y.scalar(y.get(source, "name"))
        field = y.scalar(y.get(source, "fieldPath")) or "metadata.name"
        for target in y.iter_items(y.get(item, "targets")):
            if not _selects(y.get(target, "select"), found, prefixes, suffixes):
                continue
            for path in y.iter_items(y.get(target, "fieldPaths")):
                text = y.scalar(path) or ""
                if sets_image(text, found):
                    out.append(ImageReplacement(where, f"{kind or '?'}/{name or '?'}", field,
                                                text))
    return out
