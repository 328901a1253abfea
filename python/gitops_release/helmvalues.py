"""Helm values: the image block of a ``values.yaml`` (a chart's own, or an overlay's values file).

Shapes: ``image.repository`` + ``image.tag``; ``image.registry`` + ``image.repository`` +
``image.tag``; ``image: repo:tag`` as one string; tag-only keys (the repository stays and must
equal the new image's); per-component keys named by the caller (``helm-*-key``). The repository is
compared, never rewritten (the registry would end up twice, or a shared prefix would be broken);
``digest`` is written only where the key exists or the chart's templates read it, else the pin is
left out and the summary says so. Quoting is kept unless a plain value would change type.
"""

from __future__ import annotations

import copy
import posixpath
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gitops_release import helmrender
from gitops_release import yamledit as y
from gitops_release.discovery import SourceFile, Tree
from gitops_release.errors import ManifestError
from gitops_release.helmchart import (
    OWN_LABELS,
    Chart,
    Workload,
    chart_name,
    image_keys,
    image_lines_read_other_keys,
    load_chart,
    other_readers,
    own_workloads,
    reads,
    without_comments,
)
from gitops_release.inline import InlinePatch
from gitops_release.manifests import (
    FileChange,
    OverlayPlan,
    Refusal,
    Target,
    repository_refusal,
    uncompared_refusal,
)
from gitops_release.reference import ImageReference, same_repository, tag_like
from gitops_release.targets import containers_of, dig, parsed_image

VALUES_FILES = ("values.yaml", "values.yml")
# what charts call the key of the repository beside the tag, in the order they are looked for
# (image and name only when they hold a path with a "/": a name is often the container's)
REPOSITORY_KEYS = ("repository", "repo", "image", "name")
# values-prod.yaml, prod-values.yaml, common-values.yaml, valuesProd.yaml: any values file that an
# Argo CD Application (helm.valueFiles) or a Flux HelmRelease (valuesFiles) may layer over the
# chart's values.yaml
LAYERED_RE = re.compile(r"(?i).*values.*\.ya?ml")


@dataclass
class Block:
    """Where a chart reads one image: dotted keys into the values."""

    base: tuple[str, ...]
    repository: str = "repository"
    tag: str = "tag"
    registry: str = ""
    digest: str = "digest"
    string: bool = False  # image: repo:tag in one string
    rank: int = 0  # how well a found block matches the image (0: same repository)
    alongside: tuple[str, ...] = ()  # other blocks of the same repository, left as they are
    # where the repository key sits when helm-image-key names it away from the tag (the global
    # image an argo-cd component falls back to): read and compared there, never written
    repository_at: tuple[str, ...] | None = None

    def repository_path(self) -> tuple[str, ...]:
        at = self.base if self.repository_at is None else self.repository_at
        return (*at, self.repository)


def values_file(tree: Tree) -> SourceFile | None:
    for name in VALUES_FILES:
        file = tree.files.get(f"{tree.overlay}/{name}")
        if file is not None:
            return file
    return None


CHART_FILES = ("Chart.yaml", "Chart.yml", "Chart.lock", "requirements.yaml", "requirements.lock",
               "kustomization.yaml", "kustomization.yml")


def layered_files(tree: Tree) -> list[SourceFile]:
    """The folder's values files that a GitOps controller may layer over ``values.yaml``:
    ``*values*.yaml``, and beside a chart (``Chart.yaml``) any other YAML file of the folder
    (an Argo CD Application may name ``prod.yaml`` in ``helm.valueFiles``)."""
    chart = f"{tree.overlay}/Chart.yaml" in tree.files or \
        (tree.root / tree.overlay / "Chart.yaml").is_file()
    return [f for rel, f in sorted(tree.files.items())
            if posixpath.dirname(rel) == tree.overlay and
            posixpath.basename(rel) not in VALUES_FILES + CHART_FILES and
            (LAYERED_RE.fullmatch(posixpath.basename(rel)) or
             (chart and rel.endswith((".yaml", ".yml"))))]


def _block_paths(block: Block) -> list[tuple[str, ...]]:
    if block.string:
        return [block.base]
    return [block.repository_path()] + [(*block.base, key) for key in (
        block.tag, block.registry, block.digest) if key]


def _sets(doc: y.Node, path: tuple[str, ...]) -> y.Node | None:
    """The node of ``doc`` that decides ``path`` when ``doc`` is layered over another values
    file: the value at ``path``, or a non-mapping on the way (Helm replaces the mapping)."""
    node = doc
    for i, key in enumerate(path):
        node = y.get(node, key)
        if node is None:
            return None
        if i < len(path) - 1 and y.node_kind(node) != "mapping":
            return node
    return node


def _overrides(files: list[SourceFile], paths: list[tuple[str, ...]]) -> list[str]:
    """'file key (line N)' for every key of ``paths`` that one of ``files`` sets."""
    out = []
    for file in files:
        doc = file.parsed.docs[0] if file.parsed.docs else None
        for path in paths:
            node = _sets(doc, path) if y.node_kind(doc) == "mapping" else None
            if node is not None:
                out.append(f"{file.rel} {'.'.join(path)} (line {y.line_of(node)})")
    return out


def plan_folder_values(tree: Tree, target: Target, root: Path) -> OverlayPlan | None:
    """The plan of a folder's Helm values: ``values.yaml``, or the file ``helm-values-file``
    names. Never ``values.yaml`` while a layered file of the folder (``values-prod.yaml``) sets
    the same image keys without being chosen: which of them decides the image depends on the
    environment's Argo CD ``helm.valueFiles`` / Flux ``valuesFiles``, which are not here.
    None when the folder has no values file."""
    base = values_file(tree)
    layered = layered_files(tree)
    if target.helm_values_file:
        return _plan_chosen(tree, target, root, base, layered)
    if base is None:
        if layered:
            raise ManifestError(
                f"{tree.overlay} has no values.yaml but the values files "
                f"{', '.join(f.rel for f in layered)}; which one the environment uses is set in "
                "its Argo CD Application (helm.valueFiles) or Flux HelmRelease (valuesFiles)",
                hint=f"Set helm-values-file to the one to edit, e.g. "
                f"helm-values-file: {posixpath.basename(layered[-1].rel)}")
        return None
    picked: tuple[Block, str, OverlayPlan] | None = None  # the block a render chose
    try:
        block = find_block(_top(base), target, base.rel)
    except NoImageBlock as exc:
        if not exc.candidates:
            _refuse_hard_coded(root, tree, target)
        picked = _rendered_choice(tree, base, target, root, exc.blocks)
        if picked is None:
            raise
        block = picked[0]
    overridden = _overrides(layered, _block_paths(block))
    if overridden:
        files = sorted({o.split(" ", 1)[0] for o in overridden})
        raise ManifestError(
            f"{base.rel} holds the image, but {'; '.join(overridden)} also sets it: where an "
            f"Argo CD Application (helm.valueFiles) or a Flux HelmRelease (valuesFiles) layers "
            f"{' or '.join(files)} over values.yaml, that file decides the rendered image, so an "
            "edit of values.yaml alone would deploy nothing there; nothing was written",
            hint="Set helm-values-file to the file of the environment to deploy (e.g. "
            f"helm-values-file: {posixpath.basename(files[0])}), or values.yaml for the "
            "environments that use no override")
    if picked is None:
        return plan_values(tree, base, target, root)
    _, chosen, plan = picked
    plan.notes.append(chosen)
    return plan


def _rendered_choice(tree: Tree, file: SourceFile, target: Target, root: Path,
                     blocks: tuple[Block, ...]) -> tuple[Block, str, OverlayPlan] | None:
    """Of image blocks the values cannot tell apart, the one whose edit the chart's render
    proves (only the target's containers move to the new image), with a note saying so and
    its plan; None without a render, or unless exactly one is proven."""
    if not blocks or (target.helm_tag_key or target.helm_image_key) or \
            not (root / tree.overlay / "Chart.yaml").is_file() or shutil.which("helm") is None:
        return None
    proven: list[tuple[Block, OverlayPlan]] = []
    for block in blocks[:6]:
        try:
            plan = plan_values(tree, file, _with_keys(target, block), root)
        except ManifestError:
            continue  # the chart does not read it, or reads it for other containers too
        if plan.refusal is None and plan.proof.startswith("rendered with `helm template`"):
            proven.append((block, plan))
    if len(proven) != 1:
        return None
    block, plan = proven[0]
    others = ", ".join(".".join(b.base) for b in blocks if b is not block)
    return block, (f"{file.rel}: {'.'.join(block.base)} is the image block the chart renders "
                   f"for {target.app} (the render of its edit moves only the target's "
                   f"containers; an edit of {others} does not deploy it)"), plan


def _refuse_hard_coded(root: Path, tree: Tree, target: Target) -> None:
    """When the values hold no image block and the chart in the folder writes the app's image
    literally in a template (``image: repo:0.5``), say so: no values key can deploy it."""
    chart = load_chart(root, tree.overlay)
    for workload in chart.workloads if chart else ():
        for line in workload.images:
            ref = parsed_image(line.strip("\"' "))
            if "{{" not in line and ref is not None and same_repository(ref.name, target.image.name):
                raise ManifestError(
                    f"the chart in {tree.overlay} writes the image {line} literally in "
                    f"{workload.file}: no values key sets it, so no values edit can deploy "
                    f"{target.image.name}; nothing was written",
                    hint="Make the template read the image from values (e.g. image: \"{{ "
                    ".Values.image.repository }}:{{ .Values.image.tag }}\") and add those keys "
                    "to values.yaml")


def _top(file: SourceFile) -> y.Node:
    if not file.parsed.docs or y.node_kind(file.parsed.docs[0]) != "mapping":
        raise ManifestError(f"{file.rel} is not a YAML mapping")
    return file.parsed.docs[0]


def _plan_chosen(tree: Tree, target: Target, root: Path, base: SourceFile | None,
                 layered: list[SourceFile]) -> OverlayPlan:
    """Edit the values file the caller chose: values.yaml (noting the layered files that keep
    their own tag), or a layered file that sets the image keys values.yaml holds."""
    rel = posixpath.join(tree.overlay, target.helm_values_file)
    chosen = tree.files.get(rel)
    if chosen is None:
        names = [posixpath.basename(f.rel) for f in ([base] if base else []) + layered]
        raise ManifestError(f"{tree.overlay} has no values file {target.helm_values_file} "
                            f"(values files here: {', '.join(names) or 'none'})",
                            input_name="helm-values-file",
                            hint="Name one of the folder's values files, relative to 'path'")
    if base is None or chosen is base:
        plan = plan_values(tree, chosen, target, root)
        block = find_block(_top(chosen), target, chosen.rel)
        for item in _overrides(layered if chosen is base else [], _block_paths(block)):
            plan.notes.append(f"{item} overrides {chosen.rel}: the environments that layer "
                              "that file keep their image")
        return plan
    block = find_block(_top(base), target, base.rel)
    need = block.base if block.string else (*block.base, block.tag)
    others = [f for f in layered if f is not chosen]
    if y.node_kind(y.get_path(_top(chosen), need)) != "scalar":
        _refuse_unset(chosen, base, ".".join(need), _overrides(others, [need]))
    digest = (*block.base, block.digest)
    pinned = y.get_path(_top(base), digest) if block.digest and not block.string else None
    if y.scalar(pinned) and _sets(_top(chosen), digest) is None:
        raise ManifestError(f"{base.rel} pins {'.'.join(digest)} (line {y.line_of(pinned)}) and "
                            f"{chosen.rel} does not set it, so the environment would keep "
                            "running that digest whatever the tag; nothing was written",
                            hint=f"Add {'.'.join(digest)} to {chosen.rel} (deploys then keep it "
                            f"up to date), or remove the pin from {base.rel}")
    plan = plan_values(tree, chosen, _with_keys(target, block), root,
                       fallback=y.get_path(_top(base), block.base),
                       registry=registry_of(_top(base), target, base.rel))
    for item in _overrides(others, _block_paths(block)):
        plan.notes.append(f"{item} also sets it: the environments that layer that file after "
                          f"{chosen.rel} keep their image")
    return plan


def _refuse_unset(chosen: SourceFile, base: SourceFile, missing: str,
                  others: list[str]) -> None:
    """Refuse a chosen layered file that leaves ``missing`` to values.yaml or to the other
    layered files (``others``: where they set it)."""
    name = posixpath.basename(chosen.rel)
    if others:
        first = posixpath.basename(others[0].split(" ", 1)[0])
        raise ManifestError(f"{chosen.rel} does not set {missing}: {base.rel} does, and so do "
                            f"{'; '.join(others)}; whichever of them an environment layers last "
                            f"with {name} decides its image; nothing was written",
                            input_name="helm-values-file",
                            hint=f"Add {missing} to {chosen.rel} once (deploys then keep it up to "
                            "date), or set helm-values-file to the file that sets it for the "
                            f"environment (e.g. helm-values-file: {first})")
    raise ManifestError(f"{chosen.rel} does not set {missing} as {base.rel} does, so "
                        f"{base.rel} decides the image for every environment that layers "
                        f"{name}; nothing was written", input_name="helm-values-file",
                        hint=f"Add {missing} to {chosen.rel} once (deploys then keep it up "
                        f"to date), or set helm-values-file: {posixpath.basename(base.rel)}")


def _with_keys(target: Target, block: Block) -> Target:
    """``target`` with ``block`` (found in values.yaml) as its helm-*-key settings, for a
    layered file that holds only some of the block's keys."""
    if block.string:
        return target

    def key(name: str) -> str:
        return ".".join((*block.base, name)) if name else ""

    return replace(target, helm_tag_key=key(block.tag),
                   helm_image_key=".".join(block.repository_path()),
                   # beside the repository, not from the top; the default name is left unset,
                   # so that the layered file's global.imageRegistry still wins over it, as it
                   # does in values.yaml (Bitnami's values-prod.yaml pointing at a mirror)
                   helm_registry_key=target.helm_registry_key or (
                       "" if block.registry == "registry" else block.registry),
                   helm_digest_key=key(block.digest))


def _check_shared(chart: Chart | None, path: tuple[str, ...], target: Target,
                  folder: str) -> None:
    """Refuse a key that the image templates of workloads other than the target's read too:
    writing it would deploy the app's tag to all of them."""
    if chart is None:
        return
    others, found = other_readers(chart, path, target.app, target.workload)
    if not others:
        return
    dotted = ".".join(path)
    listing = "; ".join(w.shown() for w in others)
    whose = (f"workloads other than {target.app}'s" if found else
             f"{len(others)} workloads, none of them named after {target.app!r}")
    raise ManifestError(
        f"the chart in {folder} reads .Values.{dotted} in the templates of {whose}: {listing}; "
        f"writing it would change the image of every one of them; nothing was written",
        input_name="helm-tag-key",
        hint=f"Give {target.app} an image key of its own that only its template reads (e.g. "
        f"{_own_key_example(path, target)}) and set helm-tag-key (and helm-image-key) to it, "
        "or the policy's target.helm.tag-key (image-key) for the app")


def _own_key_example(shared: tuple[str, ...], target: Target) -> str:
    """An example key of the app's own, never the shared one refused (tempo.image.tag was
    refused for tempo, and given as the example)."""
    for candidate in (f"{target.workload or target.app}.image.tag",
                      f"{target.app}.image.tag", f"{target.app}Image.tag"):
        if candidate != ".".join(shared):
            return candidate
    return f"images.{target.app}.tag"


def _split(key: str) -> tuple[str, ...]:
    return tuple(part for part in key.split(".") if part)


TAG_AND_DIGEST = re.compile(r"([^@\s]+)@(sha256:[0-9a-f]{64})")
DIGEST_VALUE = re.compile(r"(?:sha256:)?[0-9a-f]{64}")  # a values key pinning a build
TAG_SIBLINGS = ("imageTag", "image_tag", "imageVersion", "tag")  # beside ``image: repo``


class NoImageBlock(ManifestError):
    """No values block is the app's: ``candidates`` tells several were found (ambiguous) from
    none at all."""

    def __init__(self, candidates: bool, message: str, blocks: tuple[Block, ...] = (),
                 **kw: Any) -> None:
        super().__init__(message, **kw)
        self.candidates = candidates
        self.blocks = blocks  # candidates a render of the chart may tell apart


def _merged(node: y.Node | None, key: str, depth: int = 0) -> y.Node | None:
    """``node``'s value at ``key``, else what a YAML merge key (``<<: *defaults``, or a list
    of them) gives it, as Helm reads the values. For reading only: an edit writes the node's
    own key."""
    if node is None or y.node_kind(node) != "mapping" or depth > 8:
        return None
    value = y.get(node, key)
    if value is not None:
        return value
    merge = y.get(node, "<<")
    sources = [merge] if y.node_kind(merge) == "mapping" else \
        list(y.iter_items(merge)) if y.node_kind(merge) == "sequence" else []
    for source in sources:
        found = _merged(source, key, depth + 1)
        if found is not None:
            return found
    return None


def _image_string(node: y.Node | None) -> ImageReference | None:
    """The image of a values key holding one ``repo:tag`` (or ``repo@digest``) string."""
    if y.node_kind(node) != "scalar":
        return None
    image = parsed_image(y.scalar(node) or "")
    return image if image is not None and (image.tag or image.digest) else None


def registry_of(doc: y.Node, target: Target, shown: str) -> str | None:
    """The registry every image block of the values ``doc`` runs from, when one key sets it:
    the key ``helm-registry-key`` names from the top (a dotted path), else ``global.imageRegistry``
    (the Bitnami charts' convention: it wins over each block's own ``registry``)."""
    path = _split(target.helm_registry_key)
    if len(path) > 1:
        value = y.scalar(y.get_path(doc, path))
        if not value:
            raise ManifestError(f"{shown} sets no {target.helm_registry_key}",
                                input_name="helm-registry-key",
                                hint="Name the key that holds the registry, from the top of the "
                                "values (e.g. global.imageRegistry), or one beside the "
                                "repository (e.g. registry)")
        return str(value)
    if path:
        return None
    value = y.scalar(y.get_path(doc, ("global", "imageRegistry")))
    return str(value) if value else None


def find_block(doc: y.Node, target: Target, shown: str) -> Block:
    if target.helm_tag_key:
        tag = _split(target.helm_tag_key)
        base = tag[:-1]
        # beside the tag, unless named: the repository (and registry) it runs, compared
        beside = y.get_path(doc, base) if base else doc
        named = _split(target.helm_image_key)
        repo = named[-1] if named else next(
            (k for k in REPOSITORY_KEYS if y.node_kind(y.get(beside, k)) == "scalar" and (
                k in ("repository", "repo") or "/" in str(y.scalar(y.get(beside, k))))),
            "repository")
        registry_key = _split(target.helm_registry_key)
        # a dotted helm-image-key away from the tag (global.image.repository): read there, as
        # named, never taken for the key of that name beside the tag
        return Block(base, repository=repo, tag=tag[-1],
                     repository_at=named[:-1] if len(named) > 1 and named[:-1] != base else None,
                     registry=registry_key[0] if len(registry_key) == 1 else
                     "" if registry_key else "registry",
                     digest=_named_digest(target, base, shown) or "")
    block = _found_block(doc, target, shown)
    digest = _named_digest(target, block.base, shown) if not block.string else None
    return replace(block, digest=digest) if digest else block


def _named_digest(target: Target, base: tuple[str, ...], shown: str) -> str | None:
    """The digest key ``helm-digest-key`` names, beside the tag of the block at ``base``: a
    name alone (``sha``), or the dotted key from the top (``image.sha``). A key elsewhere is
    refused: the digest is written beside the tag it pins. None when not named."""
    path = _split(target.helm_digest_key)
    if not path:
        return None
    if len(path) > 1 and path[:-1] != base:
        beside = ".".join((*base, path[-1]))
        raise ManifestError(f"{shown}: helm-digest-key {target.helm_digest_key} is not beside "
                            f"the image's tag key ({'.'.join(base) or 'the top'}): the digest is "
                            "written beside the tag it pins; nothing was written",
                            input_name="helm-digest-key",
                            hint=f"Set helm-digest-key: {beside} (or the name alone: "
                            f"helm-digest-key: {path[-1]}), or name the block's tag with "
                            "helm-tag-key")
    return path[-1]


def _found_block(doc: y.Node, target: Target, shown: str) -> Block:
    """The image block of ``doc`` found by its shape and repository (no helm-tag-key)."""
    if target.helm_image_key:  # only the image key: one string, repo:tag, there
        path = _split(target.helm_image_key)
        node = y.get_path(doc, path)
        if _image_string(node) is not None:
            return Block(path, string=True)
    if _image_string(y.get(doc, "image")) is not None:
        return Block(("image",), string=True)
    if target.workload and not target.helm_image_key:
        # the component the workload names has an image block of its own (tempo-ingester:
        # ingester.image, whose repository may be left to the chart): that block, as if
        # helm-tag-key named it; the proof then checks that only that workload moves
        for part in _workload_parts(target):
            block = y.get_path(doc, (part, "image"))
            if y.node_kind(block) == "mapping" and y.get(block, "tag") is not None:
                return find_block(doc, replace(target, helm_tag_key=f"{part}.image.tag"), shown)
    global_registry = registry_of(doc, target, shown)
    # values under a top-level key named after the app: a subchart's (mariadb: in an umbrella
    # chart whose own top-level image is wordpress'), so that image is not the app's
    subchart = y.node_kind(y.get(doc, target.app)) == "mapping"
    found: list[Block] = []
    tag_only: list[str] = []
    for path, node in _mappings(doc):
        if len(found) >= 50:
            break
        if y.get(node, "tag") is not None and y.get(node, "repository") is None:
            tag_only.append(".".join((*path, "tag")))
        string = _image_string(y.get(node, "image"))
        if path and string is not None and same_repository(string.name, target.image.name):
            found.append(Block((*path, "image"), string=True))  # web.image: repo:tag
        bare = parsed_image(y.scalar(y.get(node, "image")) or "") \
            if string is None and y.node_kind(y.get(node, "image")) == "scalar" else None
        sibling = next((k for k in TAG_SIBLINGS if y.node_kind(y.get(node, k)) == "scalar"), None)
        if bare is not None and sibling and same_repository(bare.name, target.image.name):
            # image: repo, beside imageTag: 1.0.0 (the chart joins them): the tag key is written
            found.append(Block(path, repository="image", tag=sibling, registry="", digest=""))
        if _merged(node, "repository") is None:
            continue
        repo = y.scalar(_merged(node, "repository")) or ""
        registry = global_registry or y.scalar(_merged(node, "registry"))
        full = f"{registry}/{repo}" if registry else repo
        if y.get(node, "tag") is not None:
            # a block of another name running another repository (rabbitmq.image in an
            # umbrella chart) is no candidate: only the chart's own top-level image is
            rank = 0 if same_repository(full, target.image.name) else \
                1 if repo.endswith("/" + target.app) else \
                2 if target.app in path else 3 if path == ("image",) and not subchart else 4
            if rank < 4:
                found.append(Block(path, registry="registry" if registry else "", rank=rank))
        elif path and path[-1] == "image" and same_repository(full, target.image.name):
            # image.repository exactly the image's, no tag key (the chart's default tag runs):
            # image.tag, the documented default key, is added beside it
            found.append(Block(path, registry="registry" if registry else "", rank=0))
    best = [b for b in found if b.rank == min((b.rank for b in found), default=0)]
    named = [b for b in best if target.app in b.base]
    own = _own_block(doc)
    if own is not None and best and not named and all(b.base != own.base for b in best):
        _refuse_beside_own(own, best, doc, target, shown)
    if target.workload and len(named) != 1:
        # the block named after the workload: shop-worker (or worker) picks worker.image
        named = [b for b in best if set(_workload_parts(target)) & set(b.base)] or named
    if len(best) == 1 or len(named) == 1:
        chosen = (named or best)[0]
        others = tuple(".".join(b.base) for b in best if b is not chosen)
        return replace(chosen, alongside=others)
    where = ", ".join([".".join(b.base) for b in best] + tag_only) or "none"
    if subchart and not best and not tag_only and not any(
            path[:1] == (target.app,) and "image" in path[-1].lower() for path, _ in _mappings(doc)):
        raise NoImageBlock(False, f"{shown}: no values block runs {target.image.name}: "
                           f"{target.app}: holds the values of a subchart, without an image "
                           "block, and the chart's own image block runs another program; "
                           "nothing was written",
                           hint=f"Add {target.app}.image.repository and {target.app}.image.tag "
                           f"(the keys the subchart reads, under {target.app}:) to the values "
                           f"and set helm-tag-key: {target.app}.image.tag (helm-image-key: "
                           f"{target.app}.image.repository)")
    other = "" if best or tag_only else _other_image_keys(doc)
    raise NoImageBlock(bool(best or tag_only),
                       f"{shown}: cannot tell which image block is {target.app!r} "
                        f"(candidates: {where}; a block with a tag but no repository is only "
                        "taken when named, since the repository it runs cannot be checked here)"
                        + (f"; image keys by other names: {other}" if other else ""),
                        hint=_which_block_hint(best, tag_only, doc, target))


def _workload_parts(target: Target) -> tuple[str, ...]:
    """The values keys a named workload's block may sit under: its name, and its name without
    the app's prefix (shop-worker: worker)."""
    return tuple(dict.fromkeys((target.workload, target.workload.removeprefix(target.app + "-"))))


def _which_block_hint(best: list[Block], tag_only: list[str], doc: y.Node, target: Target) -> str:
    """How to name the app's block: helm-image-key for an image held as one string (a tag key
    does not exist there), else helm-tag-key with a key of the values, one under the app's name
    before another program's (podinfo's values suggested redis.tag)."""
    if best and best[-1].string:
        return ("Set helm-image-key to the key that holds the app's whole image, e.g. "
                f"helm-image-key: {'.'.join(best[-1].base)}, or set 'workload' to the "
                "workload whose block it is (the block named after it is taken)")
    example = ".".join((*best[-1].base, best[-1].tag)) if best else next(
        (key for key in tag_only if target.app in key.split(".")), "") or \
        _example_tag_key(doc, target.app) or (tag_only[0] if tag_only else "") or \
        f"{target.app}.image.tag"
    return f"Set helm-tag-key (and helm-image-key) to the chart's keys, e.g. helm-tag-key: {example}"


def _own_block(doc: y.Node) -> Block | None:
    """The chart's own top-level ``image`` block when it holds a tag key and leaves the
    repository to the chart (traefik's ``repository: null``, a template default), else None."""
    node = y.get(doc, "image")
    if y.node_kind(node) != "mapping" or y.get(node, "tag") is None or \
            not _unset(y.get(node, "repository")):
        return None
    return Block(("image",), registry="registry" if y.get(node, "registry") is not None else "")


def _tag_key(block: Block) -> str:
    return ".".join(block.base if block.string else (*block.base, block.tag))


def _refuse_beside_own(own: Block, best: list[Block], doc: y.Node, target: Target,
                       shown: str) -> None:
    """Another block runs the image by its values (traefik's ``global.azure.images.proxy``, a
    marketplace image the chart reads only when its flag is on), while the chart's own ``image``
    block leaves its repository to the chart: only a render tells which one runs. The blocks
    are handed on for the render to tell apart."""
    held = "null" if _null(y.get_path(doc, ("image", "repository"))) else "empty"
    others = ", ".join(".".join(b.base) for b in best)
    raise NoImageBlock(
        True, f"{shown}: cannot tell which image block is {target.app!r}: image, the chart's own, "
        f"leaves its repository to the chart (image.repository is {held}), and {others} "
        f"{'runs' if len(best) == 1 else 'run'} {target.image.name} by the values but may be "
        "read only under a condition (a marketplace or an OCI flag); which one runs is not "
        f"known without a render (candidates: image, {others})", blocks=(own, *best),
        hint=f"Set helm-tag-key: {_tag_key(own)} for the chart's own image (and helm-image-key "
        f"to the key the chart falls back to), or helm-tag-key: {_tag_key(best[0])}; with helm "
        "on PATH and the chart renderable, the render decides")


def _example_tag_key(doc: y.Node, app: str) -> str:
    """A tag-like key of the first mapping named like an image under a key named after the app
    (for a message's example)."""
    mappings = [(p, n) for p, n in _mappings(doc) if p and "image" in p[-1].lower()]
    for path, node in sorted(mappings, key=lambda m: (app not in m[0], m[0] != ("image",))):
        if app in path or path == ("image",):
            for key, value in node.value:
                if y.node_kind(value) == "scalar" and str(key.value) in ("tag", "version",
                                                                         "imageTag"):
                    return ".".join((*path, str(key.value)))
    return ""


def _other_image_keys(doc: y.Node) -> str:
    """The mappings named like an image whose keys are not repository/tag (``image: {repo:
    robotshop, version: latest}``), shown with their scalar keys, for a message."""
    shown: list[str] = []
    for path, node in _mappings(doc):
        keys = [str(k.value) for k, v in node.value
                if y.node_kind(k) == "scalar" and y.node_kind(v) == "scalar"]
        if path and "image" in path[-1].lower() and keys:
            shown.append(f"{'.'.join(path)} ({', '.join(keys[:6])})")
    return "; ".join(shown[:5])


def _mappings(doc: y.Node) -> Iterator[tuple[tuple[str, ...], y.Node]]:
    """Every mapping of a values document under scalar keys, with its key path, to depth 8
    (the last key of a mapping first)."""
    stack: list[tuple[tuple[str, ...], y.Node]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        if y.node_kind(node) != "mapping" or len(path) > 8:
            continue
        yield path, node
        stack += [((*path, str(key.value)), value) for key, value in node.value
                  if y.node_kind(key) == "scalar"]


def plan_values(tree: Tree, file: SourceFile, target: Target, root: Path,
                base: tuple[y.PathKey, ...] = (), doc_index: int = 0,
                fallback: y.Node | None = None, registry: str | None = None,
                helm: bool = True, proven: bool = True) -> OverlayPlan:
    """Plan the values edit of ``file`` (its document ``doc_index``, under ``base``);
    ``fallback``: the image block of the values.yaml that ``file`` is layered over (its
    repository and registry count where ``file`` sets none). A values file of a chart in the
    folder is proven with ``helm template`` where helm is on PATH (``helm``: try it), else
    checked against the chart's templates as text. ``proven`` false: the edit alone (no render
    and no templates check), for a probe render."""
    judged = helm and not base and posixpath.dirname(file.rel) == tree.overlay and \
        (root / tree.overlay / "Chart.yaml").is_file() and shutil.which("helm") is not None
    shown = file.rel
    parsed = file.parsed
    if not parsed.docs or y.node_kind(parsed.docs[doc_index]) != "mapping":
        raise ManifestError(f"{shown} is not a YAML mapping")
    values = y.get_path(parsed.docs[doc_index], base) if base else parsed.docs[doc_index]
    block = find_block(values, target, shown)
    mapping_path = (*base, *block.base)
    mapping = y.get_path(parsed.docs[doc_index], mapping_path)
    if mapping is None or (not block.string and y.node_kind(mapping) != "mapping"):
        dotted = ".".join(str(key) for key in mapping_path)
        raise ManifestError(f"{shown} has no mapping {dotted} to write the image keys into "
                            "(the chart's values come from elsewhere, e.g. a base this file "
                            "patches)", input_name="helm-tag-key",
                            hint=f"Add {dotted}: with the image keys to {shown}, or point "
                            "helm-tag-key/helm-image-key at keys this file sets")
    plan = OverlayPlan(tree.overlay, target=f"{shown} {'.'.join(block.base) or '(top)'}")
    if block.alongside:
        plan.notes.append(f"{shown}: {', '.join(block.alongside)} run the same repository as "
                          f"{'.'.join(block.base)} and are left as they are (only the block "
                          f"named after {target.app} is deployed)")
    edits: list[tuple[y.Edit, y.Intent]] = []

    def setkey(key: str, value: str, what: str) -> None:
        node = y.get(mapping, key)
        if node is not None:
            edit = y.set_scalar(parsed, node, value, what, mapping)
            if edit:
                edits.append((edit, y.Intent("set", doc_index, (*mapping_path, key), value)))
        else:
            edits.append((y.add_key(parsed, mapping, key, value, what),
                          y.Intent("add", doc_index, (*mapping_path, key), value)))

    if block.string:
        chart = load_chart(root, tree.overlay)
        templates = chart.text if chart else ""
        dotted = ".".join(block.base)
        if templates and not judged and \
                not re.search(rf"\.Values\.{re.escape(dotted)}(?![.\w])", templates):
            raise ManifestError(f"{shown} holds {dotted}: as one string, but the chart in "
                                f"{tree.overlay} reads parts of .Values.{dotted}",
                                hint="Set helm-tag-key (and helm-image-key) to the keys the "
                                "chart reads")
        if not judged:
            _check_shared(chart, block.base, target, tree.overlay)
        plan.proof = ("values key checked against the chart's templates" if templates else
                      "values file only: no chart in the folder to render")
        current = y.scalar(mapping) or ""
        plan.previous_image = current
        _check_repository(plan, parsed_image(current), target, shown, dotted)
        if plan.refusal is None:
            node = mapping
            edit = y.set_scalar(parsed, node, str(target.image), "image")
            if edit:
                edits.append((edit, y.Intent("set", doc_index, mapping_path, str(target.image))))
    else:
        source = y.get_path(values, block.repository_at) \
            if block.repository_at is not None else None
        _block_edits(plan, tree, root, (mapping, fallback), block, target, shown, setkey,
                     registry_of(values, target, shown) or registry, judged, source,
                     values_file=not base)
    if not judged and not base and plan.refusal is None:
        chart_values = values_file(tree)
        docs = [values] + ([_top(chart_values)] if chart_values and chart_values is not file
                           else [])
        written = block.base if block.string else (*block.base, block.tag)
        templates_chart = load_chart(root, tree.overlay)
        plan.refusal = _not_the_apps_template(templates_chart, written, target, docs,
                                              tree.overlay)
        if plan.refusal is not None:
            return plan
        _refuse_disabled(templates_chart, written, docs, tree.overlay)
    if target.helm_release_key and plan.refusal is None:
        keys = _split(target.helm_release_key)
        parent = y.get_path(parsed.docs[doc_index], (*base, *keys[:-1]))
        if parent is None or y.node_kind(parent) != "mapping":
            raise ManifestError(f"{shown} has no mapping {'.'.join(keys[:-1]) or '(top)'} for "
                                f"{target.helm_release_key}", input_name="helm-release-key")
        node = y.get(parent, keys[-1])
        if node is not None:
            edit = y.set_scalar(parsed, node, target.release, target.helm_release_key)
            if edit:
                edits.append((edit, y.Intent("set", doc_index, (*base, *keys), target.release)))
        else:
            edits.append((y.add_key(parsed, parent, keys[-1], target.release, target.helm_release_key),
                          y.Intent("add", doc_index, (*base, *keys), target.release)))
    if plan.refusal is not None:
        return plan
    if not target.helm_release_key:
        plan.notes.append(f"{target.release_env} not written: values record the release only "
                          f"under helm-release-key (the key the chart reads into "
                          f"{target.release_env}); set it to record releases")
    new_text = y.apply_edits(file.text, [e for e, _ in edits], shown)
    y.verify(parsed, new_text, [i for _, i in edits])
    def probe(other: Target) -> str:  # the same values edit for another image, unchecked
        again = plan_values(tree, file, other, root, base, doc_index, fallback, registry,
                            proven=False)
        return again.changes[0].new_text.removeprefix(file.bom) if again.changes else file.text

    failed = _helm_proof(plan, tree, file, new_text, target, probe) if judged and proven \
        else None
    if failed is not None:
        try:
            plan = plan_values(tree, file, target, root, base, doc_index, fallback, registry,
                               helm=False)  # helm cannot render the chart as it is
        except ManifestError as exc:
            exc.message = (f"{exc.message} (checked against the chart's templates: helm "
                           f"template cannot render it as it is in the repository: {failed})")
            exc.args = (exc.message,)
            raise
        plan.notes.append(f"helm template cannot render the chart in {tree.overlay} as it is "
                          f"in the repository ({failed}), so the values keys were checked "
                          "against its templates")
        return plan
    plan.places.append(plan.target)
    plan.changes = [FileChange(file.path, file.on_disk(file.text), file.on_disk(new_text),
                               plan.previous_image, plan.previous_version, "values")]
    return plan


def _helm_proof(plan: OverlayPlan, tree: Tree, file: SourceFile, new_text: str,
                target: Target, probe: Callable[[Target], str] | None = None) -> str | None:
    """Prove the values edit with ``helm template`` before and after (see helmrender); why
    not, when the chart does not render as it is (the templates check runs instead).
    ``probe``: the values text for another target, for a render that tells whether the keys
    decide a container that already runs the new image (see ``_already_running``)."""
    from gitops_release.render import load_documents

    name = posixpath.basename(file.rel)
    started = time.perf_counter()
    result = helmrender.render_variants(file.path.parent, name, [None, new_text], target.app,
                                        layered=name != "values.yaml")
    if isinstance(result, str):
        return result
    (code, out, err), (code_after, out_after, err_after) = result
    if code != 0:
        return _helm_failure(err)
    if code_after != 0:
        raise helmrender.HelmRenderError(
            f"the chart in {tree.overlay} does not render with the edited {file.rel}: "
            f"{err_after.strip()[-1000:]}; nothing was written",
            hint="Set helm-tag-key/helm-image-key to the keys the chart reads")
    before = load_documents(out, f"helm template of {tree.overlay}")
    after = load_documents(out_after, f"helm template of {tree.overlay}")
    renders = 2
    unstable: set[tuple[Any, ...]] = set()
    try:
        try:
            moved, notes, previous = helmrender.prove(before, after, target,
                                                      plan.previous_version, tree.overlay)
        except helmrender.NothingMoved:
            raise  # no container's image moves: a render's randomness does not cause that
        except ManifestError:
            # a chart may render differently each time (randAlphaNum, now): render it as it is
            # once more, leave out what differs between the two, and judge the rest
            # (both sides once more, after the first two ended: a value of the clock differs
            # between the first and second "before", or between the two "after")
            again = helmrender.render_variants(file.path.parent, name, [None, new_text],
                                               target.app, layered=name != "values.yaml",
                                               fresh=True)
            if isinstance(again, str) or again[0][0] != 0 or again[1][0] != 0:
                raise
            renders = 4
            shown = f"helm template of {tree.overlay}"
            unstable = helmrender.unstable_paths(before, load_documents(again[0][1], shown)) | \
                helmrender.unstable_paths(after, load_documents(again[1][1], shown))
            if not unstable:
                raise
            moved, notes, previous = helmrender.prove(before, after, target,
                                                      plan.previous_version, tree.overlay,
                                                      unstable)
            notes.append(f"{len(unstable)} values of the chart's render differ between two "
                         "renders of the same values (random or time-based: randAlphaNum, now) "
                         "and were left out of the comparison")
    except helmrender.NothingMoved:
        accepted = _already_running(tree, file, before, target, probe, unstable)
        if accepted is None:
            raise
        moved, notes, previous = [], accepted, str(target.image)
        renders += 1
    plan.render_seconds += time.perf_counter() - started
    plan.refusal = plan.refusal or _not_the_apps_workload(before, moved, target, tree.overlay,
                                                          chart_name(file.path.parent))
    ref = parsed_image(previous) if previous else None
    plan.previous_image = previous or plan.previous_image
    if ref is not None and ref.tag:
        plan.previous_version = ref.tag  # what runs: a tag "" renders the chart's appVersion
    files = "values.yaml" if name == "values.yaml" else f"values.yaml, then {name}"
    plan.proof = (f"rendered with `helm template` before and after ({files}; {renders} "
                  "renders): " + (f"only {', '.join(moved)} moved to the new image" if moved
                                  else "no container's image moves: the containers the keys "
                                  "decide already run the new image"))
    plan.notes += notes
    return None


def _helm_failure(err: str) -> str:
    """Why ``helm template`` failed, from its stderr: its ``Error:`` line, not a warning printed
    before it ("WARNING: This chart is deprecated" was given as the reason)."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    reason = next((line for line in lines if line.startswith("Error")), None) or next(
        (line for line in lines if not line.startswith("WARNING")), "helm template failed")
    return reason[:300]


def _own_label(obj: Any, app: str) -> str | None:
    """``label: value`` of the first of OWN_LABELS set to ``app`` on the object or its pods."""
    for at in (("metadata",), ("spec", "template", "metadata"),
               ("spec", "jobTemplate", "spec", "template", "metadata")):
        labels = dig(obj, (*at, "labels"))
        for key in OWN_LABELS:
            if isinstance(labels, dict) and labels.get(key) == app:
                return f"{key}: {app}"
    return None


def _not_the_apps_workload(before: list[Any], moved: list[str], target: Target,
                           where: str, chart: str = "") -> Refusal | None:
    """The chart renders the app's own workload (named like the app, ``<app>-<app>`` as a
    release named after the app makes it, or with a container named like the app) running
    another repository than the new image, and the edit moves others: the image is not the
    app's (the release of web with admin-ui's image moved Deployment/web-admin; harbor-core's
    release with the jobservice image moved harbor-core-jobservice). Where no workload is so
    named, one labelled as the app (``app.kubernetes.io/component: <app>``: kube-prometheus-stack
    names the operator <release>-kube-p-operator) is its own, unless another so labelled runs
    the image or moves. A kustomize overlay refuses the same payload by the workload's
    repository; so does this, unless workload names the target or the policy allows the
    repository. A named container must be one the edit moves."""
    if target.container and moved and not any(
            m.endswith(f"container {target.container}") for m in moved):
        raise ManifestError(f"the chart in {where}: the values edit moves {', '.join(moved)}, "
                            f"not container {target.container!r}; nothing was written",
                            input_name="container",
                            hint="Send the image that container runs, or name its values keys "
                            "with helm-tag-key and helm-image-key")
    if target.workload or target.container or target.allow_repository_change or not moved:
        return None
    names = {target.app, f"{target.app}-{target.app}"}
    release = helmrender.release_name(target.app)
    if chart and chart != release and chart in release:
        # rendered as the release named after the app, the chart's fullname is that name
        # itself where it holds the chart's (helm create's "contains .Chart.Name .Release.Name"):
        # a workload named so is the chart's main one, not the app's (minio-object-browser's
        # release renders minio's own Deployment as minio-object-browser)
        names.discard(target.app)
    labelled: list[tuple[str, str, str]] = []  # (object, label, its first image)
    named_ok = False  # a workload named after the app moves, or runs the image's repository
    for obj in before:
        if not isinstance(obj, dict):
            continue
        name = dig(obj, ("metadata", "name"))
        shown = f"{obj.get('kind')}/{name}"
        runs = any(m.startswith(shown + " ") for m in moved) or any(
            same_repository(getattr(parsed_image(i), "name", i), target.image.name)
            for _n, i, _init, _c in containers_of(obj) if i)
        label = _own_label(obj, target.app)
        if label and containers_of(obj):
            labelled.append((shown, label, "" if runs else containers_of(obj)[0][1]))
        images = [image for c_name, image, _init, _c in containers_of(obj)
                  if image and (name in names or c_name == target.app)]
        named_ok = named_ok or bool(images and runs)
        sidecar = _beside_own_container(obj, shown, moved, target)
        if sidecar is not None:
            beside = [m for m in moved if m.startswith(shown + " ")]
            names_moved = [m.rsplit(" ", 1)[-1] for m in beside if " init container " not in m] \
                or [m.rsplit(" ", 1)[-1] for m in beside]
            return _own_refusal(
                where, f"{shown} container {target.app}", "", sidecar, moved, target, "container",
                hint=f"Nothing was changed. Send {target.app}'s own image; to deploy "
                f"{target.image.name} beside it, set 'container' to the container that runs it "
                f"(container: {names_moved[0]}, or the policy's apps[].target.container)")
        if not images or runs:
            continue
        return _own_refusal(where, shown, "", images[0], moved, target)
    if labelled and not named_ok and all(image for _, _, image in labelled):
        shown, label, image = labelled[0]
        return _own_refusal(where, shown, f" (labelled {label})", image, moved, target)
    return None


def _beside_own_container(obj: Any, shown: str, moved: list[str], target: Target) -> str | None:
    """The image of ``obj``'s container named after the app, when the edit moves another
    container of that pod and not it, and it runs another repository than the new image, whose
    name is not the app's (a release of web carrying its metrics exporter's image moved the
    exporter beside web, where a kustomize overlay refuses it; a repository named after the app
    is the app's own image in another container, behind a proxy named like the app)."""
    if target.image.name.rsplit("/", 1)[-1] == target.app:
        return None
    own = [(c_name, image, init) for c_name, image, init, _c in containers_of(obj)
           if c_name == target.app and image]
    mine = [m for m in moved if m.startswith(shown + " ")]
    if len(own) != 1 or not mine:
        return None
    c_name, image, init = own[0]
    if f"{shown} {'init container' if init else 'container'} {c_name}" in mine or \
            same_repository(getattr(parsed_image(image), "name", image), target.image.name):
        return None
    return image


def _own_refusal(where: str, shown: str, why: str, image: str, moved: list[str],
                 target: Target, what: str = "workload", hint: str = "") -> Refusal:
    """The refusal of an edit that moves ``moved`` while the app's own workload (or container,
    ``what``) ``shown`` runs ``image``."""
    workloads = list(dict.fromkeys(m.split(" ", 1)[0].split("/", 1)[-1] for m in moved))
    return Refusal(
        "policy", f"the chart in {where} renders {shown}, the app's own {what}{why}, running "
        f"{image}, and the new image is {target.image.name}; the values edit would move "
        f"{', '.join(moved)} instead (another component's): a target's image repository never "
        "changes unless the policy allows it", hint=hint or _own_hint(target, workloads))


def _own_hint(target: Target, workloads: list[str]) -> str:
    """How to deploy an image that moves ``workloads`` (their names, '' where only a render
    would tell) and not the app's own: name the component as ``workload`` where one moves,
    else send it under an app of its own."""
    if len(workloads) == 1:
        example = f"workload: {workloads[0]}, " if workloads[0] else ""
        how = (f"set 'workload' to the component that runs it ({example}or the policy's "
               "apps[].target.workload)")
    else:
        how = (f"send it under the release of the component that runs it (an app of its own, "
               f"e.g. {target.image.name.rsplit('/', 1)[-1]}@<version>): the edit moves "
               f"{len(workloads)} workloads, more than one 'workload' names")
    return f"Nothing was changed. Send {target.app}'s own image; to deploy {target.image.name}, {how}"


def _not_the_apps_template(chart: Chart | None, path: tuple[str, ...], target: Target,
                           docs: list[y.Node], where: str) -> Refusal | None:
    """Without a render: the chart's templates show the app's own workload (``own_workloads``:
    labelled as the app, or a container named after it) running another repository (its image
    lines' repository key in the values ``docs``), while the key written is read by other
    workload templates only (kube-prometheus-stack's chart, its dependencies not vendored: the
    operator's release with the certgen image moved the admission Jobs). Refused as the render
    refuses it (``_not_the_apps_workload``); nothing is said where the repository cannot be read."""
    if chart is None or target.workload or target.container or target.allow_repository_change:
        return None
    override = next((str(y.scalar(y.get(d, "nameOverride"))) for d in docs
                     if y.scalar(y.get(d, "nameOverride"))), "")
    own = own_workloads(chart, target.app, override or chart.name)
    readers = [w for w in chart.workloads if reads(w.text, path, chart.defined)]
    if not own or not readers or any(w in readers for w, _ in own):
        return None
    other: tuple[Workload, str, str, str] | None = None
    for workload, why in own:
        for key in image_keys(workload):
            if key.rsplit(".", 1)[-1] not in ("repository", "repo", "image"):
                continue
            value = next((str(y.scalar(n)) for d in docs
                          if y.node_kind(n := y.get_path(d, tuple(key.split(".")))) == "scalar"
                          and y.scalar(n)), "")
            if not value:
                continue
            if same_repository(value, target.image.name) or \
                    target.image.name.endswith("/" + value.strip("/")):
                return None  # the app's own workload runs the image's repository
            other = other or (workload, why, key, value)
    if other is None:
        return None
    workload, why, key, value = other
    literal = [w.name if w.name and "{{" not in w.name else "" for w in readers]
    return Refusal(
        "policy", f"the chart in {where}: {workload.shown()}, the app's own workload ({why}), "
        f"runs {value} (.Values.{key}), and the new image is {target.image.name}; the values "
        f"key {'.'.join(path)} written for it is read by {'; '.join(w.shown() for w in readers)} "
        "instead (another component's; checked against the templates, no render): a target's "
        "image repository never changes unless the policy allows it",
        hint=_own_hint(target, literal))


# a template rendered only where a values key is set: {{- if .Values.metrics.enabled }} first
# (its comments left out)
_GATE = re.compile(r"\A\s*\{\{-?\s*if\s+\.Values\.([\w.]+)\s*-?\}\}")


def _refuse_disabled(chart: Chart | None, path: tuple[str, ...], docs: list[y.Node],
                     where: str) -> None:
    """Without a render: every workload template that reads the key written is rendered only
    where a values key is set (``{{- if .Values.exporter.enabled }}`` first), and the values
    set it false: no container runs the image, and the edit would change nothing in the cluster
    (it was pushed; where helm renders, the same deploy is refused). The first values document
    that sets the key decides (the file deployed, then the chart's values.yaml)."""
    if chart is None:
        return
    bodies = dict(chart.bodies)
    readers = [w for w in chart.workloads if reads(w.text, path, chart.defined, bodies)]
    gates = []
    for workload in readers:
        gate = _GATE.match(without_comments(workload.text))
        if gate is None:
            return
        key = tuple(gate.group(1).split("."))
        value = next((y.scalar(n) for d in docs
                      if (n := y.get_path(d, key)) is not None), None)
        if value is None or value.lower() not in ("false", "no", "off", "~", "null", ""):
            return
        gates.append(f"{workload.shown()} only if .Values.{gate.group(1)}, set {value or 'empty'}")
    if gates:
        raise ManifestError(f"the chart in {where}: no workload runs the image of "
                            f".Values.{'.'.join(path)}, so the values edit would change nothing "
                            f"in the cluster ({'; '.join(gates)}; checked against the chart's "
                            "templates, no render); nothing was written",
                            hint="Enable the component that runs it in the values (a disabled "
                            "component renders no container), or point 'path' at the chart that "
                            "runs it")


PROBE_SUFFIX = "-gitops-release-probe"


def _already_running(tree: Tree, file: SourceFile, before: list[Any], target: Target,
                     probe: Callable[[Target], str] | None,
                     unstable: set[tuple[Any, ...]]) -> list[str] | None:
    """When the values edit moves no container's image: the notes that accept it, if a render
    of the values with another tag (the new tag with a suffix) moves only containers that
    already run exactly the new image (the same event sent twice; the version an empty tag
    renders from appVersion), so the keys do decide them. None otherwise (the chart does not
    read the keys, or they decide a container that runs something else)."""
    from gitops_release.render import load_documents

    if probe is None or not target.image.tag:
        return None
    other = replace(target, image=replace(target.image, tag=target.image.tag + PROBE_SUFFIX,
                                          digest=None))
    try:
        text = probe(other)
    except ManifestError:
        return None
    name = posixpath.basename(file.rel)
    result = helmrender.render_variants(file.path.parent, name, [text], target.app,
                                        layered=name != "values.yaml")
    if isinstance(result, str) or result[0][0] != 0:
        return None
    shown = f"helm template of {tree.overlay}"
    try:
        moved, _, _ = helmrender.prove(before, load_documents(result[0][1], shown), other, None,
                                       tree.overlay, unstable)
    except ManifestError:
        return None
    running = set(helmrender.running(before, target))
    if not moved or not running.issuperset(moved):
        return None
    return [f"{', '.join(moved)} already run{'s' if len(moved) == 1 else ''} {target.image}: "
            "the render does not change (a render of the values with another tag moves it: "
            "the values keys decide its image)"]


def _app_version(chart_dir: Path) -> str | None:
    """The chart's ``appVersion`` (Chart.yaml), what an empty tag renders in most charts."""
    try:
        data = _yaml_data((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeError):
        return None
    version = data.get("appVersion") if isinstance(data, dict) else None
    return str(version) if version not in (None, "") else None


def _unset(node: y.Node | None) -> bool:
    """Whether a values key is there but holds nothing: ``""``, ``null``, ``~`` or no value
    (the chart's template default, or another key, fills it in)."""
    return node is not None and y.node_kind(node) == "scalar" and (
        node.value == "" or _null(node))


def _null(node: y.Node | None) -> bool:
    """A plain ``null``/``~`` (the parser resolves no tags: read as YAML 1.2's core schema
    types it, untagged)."""
    from gitops_release.policyfile import typed_scalar

    return node is not None and not getattr(node, "tag", None) and typed_scalar(node) is None


def _fallback_key(chart: Chart | None, key: str) -> str:
    """The values key a chart's template falls back to when ``key`` is empty (``default
    .Values.global.image.repository .Values.server.image.repository``), or ''."""
    text, at = chart.text if chart else "", re.escape(key)
    found = re.search(rf"\bdefault\s+\(?\s*\.Values\.([\w.]+)\s*\)?\s+\(?\s*\.Values\.{at}"
                      r"(?![\w.])", text) or \
        re.search(rf"\.Values\.{at}\s*\)?\s*\|\s*default\s+\(?\s*\.Values\.([\w.]+)", text)
    return found.group(1) if found else ""


def _inherited(plan: OverlayPlan, tree: Tree, root: Path, key: str, node: y.Node | None,
               target: Target, shown: str, judged: bool) -> None:
    """A repository key that holds nothing: the render decides (the edit must move only
    containers that run the new image's repository already, as ``helmrender.prove`` checks),
    and without one the deploy is refused, naming the key to compare instead."""
    held = "null" if _null(node) else "empty"
    if judged:
        plan.notes.append(f"{shown} {key} is {held}: the chart fills the repository in, so its "
                          "render says which repository runs (only containers that ran "
                          f"{target.image.name} may move)")
        return
    fallback = _fallback_key(load_chart(root, tree.overlay), key)
    raise ManifestError(
        f"{shown} {key} is {held}: the chart fills the repository in ("
        + (f"its templates fall back to .Values.{fallback}" if fallback else
           "a default in its templates, or another key")
        + "), and no helm render here shows which repository runs, so it cannot be compared "
        f"with {target.image.name}; nothing was written", input_name="helm-image-key",
        hint=(f"Set helm-image-key: {fallback} (it is compared, never written), or write "
              f"the repository into {key} once" if fallback else
              f"Write the repository the chart runs into {key} once, or set helm-image-key to "
              "the values key the chart falls back to (compared, never written)")
        + "; with helm on PATH and the chart renderable, the render decides")


def _check_repository(plan: OverlayPlan, current: object, target: Target, shown: str,
                      key: str) -> None:
    plan.previous_version = getattr(current, "tag", None)
    plan.refusal = repository_refusal(f"{shown} {key} runs", getattr(current, "name", None),
                                      target)


def _check_tag_key(current: str | None, key: str, target: Target, shown: str) -> None:
    """Refuse a tag key that holds something else than a tag (a whole image, a repository):
    writing the bare tag there would deploy an image named like the tag."""
    if not current:
        return
    last = key.rsplit(".", 1)[-1]
    if tag_like(current) and last not in ("repository", "registry") and \
            not same_repository(current, target.image.name):
        return
    whole = (":" in current or "@" in current) and parsed_image(current) is not None
    if re.fullmatch(r"sha(?:256|512):[0-9a-f]+", current):
        raise ManifestError(f"{shown} {key} holds a digest ({current[:19]}...), not an image "
                            "tag; nothing was written", input_name="helm-tag-key",
                            hint=f"Set helm-digest-key: {key} and helm-tag-key to the key of "
                            "the tag")
    raise ManifestError(
        f"{shown} {key} holds {current!r}, which is not an image tag ("
        + ("it is a whole image" if whole else "it looks like a repository or registry")
        + f"): writing the tag there would deploy an image named {target.image.tag!r}; nothing "
        "was written", input_name="helm-tag-key",
        hint=(f"Set helm-image-key: {key} without helm-tag-key: the receiver then writes the "
              "whole image string there" if whole else
              "Set helm-tag-key to the key that holds the tag (e.g. image.tag), and "
              "helm-image-key to the repository's key"))


def _block_edits(plan: OverlayPlan, tree: Tree, root: Path, mappings: tuple[y.Node, y.Node],
                 block: Block, target: Target, shown: str,
                 setkey: Callable[[str, str, str], None],
                 global_registry: str | None = None, judged: bool = False,
                 source: y.Node | None = None, values_file: bool = True) -> None:
    """``source``: the mapping of the repository key ``helm-image-key`` names away from the
    tag (``block.repository_at``). ``values_file``: a values file (not a HelmRelease's
    ``spec.values``, whose merged repository helmpatch checks)."""
    mapping, fallback = mappings
    home, spare = (mapping, fallback) if block.repository_at is None else (source, None)
    repo_key = ".".join(block.repository_path())

    def read(key: str) -> y.Node | None:
        node = _merged(home, key)
        return (node if node is not None else _merged(spare, key)) if key else None

    if block.repository_at is not None and y.node_kind(read(block.repository)) != "scalar":
        raise ManifestError(f"{shown} sets no {repo_key} (helm-image-key)",
                            input_name="helm-image-key",
                            hint="Name the key that holds the repository the chart runs, from "
                            "the top of the values (e.g. global.image.repository), or the "
                            "repository key beside the tag")
    repo_node, registry_node = read(block.repository), read(block.registry)
    repo = None if _unset(repo_node) else y.scalar(repo_node)
    registry = global_registry or (None if _unset(registry_node) else y.scalar(registry_node))
    if _unset(repo_node):
        # repository: "" or null: the chart fills it in (argo-cd's default to
        # global.image.repository, traefik's default "traefik"): only a render shows what runs
        _inherited(plan, tree, root, repo_key, repo_node, target, shown, judged)
        registry = None
    plan.values_keys = ((*block.base, block.registry) if block.registry else (),
                        block.repository_path(), (*block.base, block.tag))
    tag_node = y.get(mapping, block.tag)
    # tag: null (or ~, or nothing) is no tag: the chart's default runs, as for tag: ""
    tag = y.scalar(tag_node) if tag_node is not None and not _unset(tag_node) else None
    if tag_node is None and _merged(fallback, block.tag) is None and not target.helm_tag_key:
        plan.notes.append(f"{shown} {'.'.join(block.base)} had no {block.tag} key (the chart's "
                          f"default tag ran): {block.tag} is added beside {block.repository}; "
                          "a chart that reads another key for the tag names it with "
                          "helm-tag-key")
    full = f"{registry}/{repo}" if registry and repo else repo
    dotted = ".".join(block.base)
    pinned = TAG_AND_DIGEST.fullmatch(tag or "")  # 18.19.0@sha256:... (Renovate's pinning)
    if pinned:
        tag = pinned.group(1)
    _check_tag_key(tag, ".".join((*block.base, block.tag)), target, shown)
    chart = load_chart(root, tree.overlay)
    if not judged:  # helm's render shows it where helm runs
        _check_shared(chart, (*block.base, block.tag), target, tree.overlay)  # the precise reason
    if not tag and chart is not None:  # tag: "" renders the chart's appVersion (the convention)
        tag = _app_version(root / tree.overlay) or tag
    plan.previous_image = f"{full or '?'}:{tag}" if tag else (full or "")
    plan.previous_version = tag or None
    rest = target.image.name[len(full.rstrip("/")) + 1:] if full else ""
    joined = next((str(k.value) for k, v in mapping.value if y.node_kind(v) == "scalar"
                   and y.scalar(v) == rest and str(k.value) != block.tag), None) \
        if rest and y.node_kind(mapping) == "mapping" else None
    if full and joined and not same_repository(full, target.image.name) and \
            target.image.name.startswith(full.rstrip("/") + "/"):
        raise ManifestError(
            f"{shown} {dotted}.{block.repository} ({full}) and {dotted}.{joined} ({rest}) "
            f"together name the image {target.image.name}: {dotted}.{block.repository} is not "
            "its repository; nothing was written", input_name="helm-image-key",
            hint=f"Set helm-registry-key: {dotted}.{block.repository} and helm-image-key: "
            f"{dotted}.{joined} (and helm-tag-key: {dotted}.{block.tag})")
    if full and not same_repository(full, target.image.name) and \
            target.image.name.startswith(full.rstrip("/") + "/"):
        # robotshop/{service}: the key every service's image starts with, not one app's image
        raise ManifestError(
            f"{shown} {dotted}.{block.repository} is {full}, the start of the new image's "
            f"repository {target.image.name}: the chart adds each service's name to it, so "
            f"{dotted}.{block.tag} is the version of every service it renders, not "
            f"{target.app}'s alone; nothing was written", input_name="helm-tag-key",
            hint=f"Give {target.app} image keys of its own in the chart (e.g. "
            f"{target.app}.image.repository and {target.app}.image.tag, read by its template) "
            "and name them with helm-image-key and helm-tag-key")
    if values_file and not full and not judged and chart is None and not _unset(repo_node) \
            and fallback is None and not target.allow_repository_change:
        # no repository in the values and no chart here to render: the repository the tag is
        # for cannot be compared with the new image's, and any image's tag would be written
        plan.refusal = uncompared_refusal(
            f"{shown} sets {dotted + '.' if dotted else ''}{block.tag} and no repository, and no "
            "chart in this folder renders it", target,
            "add the repository key the chart reads to the values and name it with "
            "helm-image-key")
        return
    if full is not None and not same_repository(full, target.image.name):
        plan.refusal = repository_refusal(f"{shown} {repo_key} gives", full, target)
        if plan.refusal is not None:
            return
        if block.repository_at is not None:
            raise ManifestError(f"{shown} {repo_key} (helm-image-key) gives {full}, and the new "
                                f"image is {target.image.name}: that key is read to compare the "
                                f"repository, not written (it is not beside {dotted}."
                                f"{block.tag}); nothing was written",
                                input_name="helm-image-key",
                                hint=f"Write the repository into {dotted}.{block.repository} "
                                "once and name it with helm-image-key, or deploy the image "
                                f"{repo_key} names")
        plan.notes.append(f"{shown} {repo_key}: the repository changes from "
                          f"{full} to {target.image.name} (the policy allows it)")
        if registry and target.image.name.startswith(registry + "/"):
            setkey(block.repository, target.image.name[len(registry) + 1:], dotted)
        else:
            setkey(block.repository, target.image.name, dotted)
    if block.digest and not target.helm_digest_key and y.get(mapping, block.digest) is None:
        # a key of another name holding a digest pins the build (kube-state-metrics' image.sha):
        # left as it is, the new tag would run with the old digest, i.e. the old image
        pin = next((str(k.value) for k, v in mapping.value
                    if y.node_kind(v) == "scalar" and str(k.value) not in (block.tag,
                                                                          block.repository)
                    and DIGEST_VALUE.fullmatch(str(y.scalar(v) or ""))), None)
        if pin is not None:
            block = replace(block, digest=pin)
            plan.notes.append(f"{shown} {dotted}.{pin} holds a digest: it pins the image, and is "
                              "written with the tag")
    digest_node = y.get(mapping, block.digest) if block.digest else None
    # written as the key holds it: `sha256:<hex>`, or the bare hex a chart prefixes itself
    bare = re.fullmatch(r"[0-9a-f]{64}", str(y.scalar(digest_node) or "")) is not None
    templates, defined = (chart.text, chart.defined) if chart else ("", frozenset[str]())
    bodies = dict(chart.bodies) if chart else {}
    reads_digest = bool(block.digest) and reads(templates, (*block.base, block.digest), defined,
                                                bodies)
    if pinned:  # the tag key carries the pin: it keeps carrying it
        if target.image.digest:
            setkey(block.tag, f"{target.image.tag}@{target.image.digest}", f"{dotted}.{block.tag}")
        else:
            setkey(block.tag, target.image.tag or "", f"{dotted}.{block.tag}")
            plan.notes.append(f"{shown} {dotted}.{block.tag} pinned a digest; this deploy carries "
                              "none, so the tag is written without one")
    else:
        setkey(block.tag, target.image.tag or "", f"{dotted}.{block.tag}")
    if pinned:
        pass  # the digest travels in the tag
    elif target.image.digest:
        if digest_node is not None or reads_digest:
            setkey(block.digest, target.image.digest.split(":", 1)[-1] if bare else
                   target.image.digest, f"{dotted}.{block.digest}")
        elif target.helm_digest_key:
            plan.notes.append(f"digest not pinned: {shown} has no {dotted}.{block.digest} key "
                              "(helm-digest-key) and no chart here shows that it reads one (add "
                              "the key to the values once, where the chart reads it)")
        else:
            key = f"{dotted}.{block.digest}" if block.digest else f"digest key beside {dotted}." \
                f"{block.tag}"  # the block has none: no name to give ("alertmanager.image.")
            plan.notes.append(f"digest not pinned: {shown} has no {key} and no chart here shows "
                              "that it reads one (set helm-digest-key to the chart's key)")
    elif digest_node is not None and y.scalar(digest_node):
        setkey(block.digest, "", f"{dotted}.{block.digest}")
    if templates and not judged and not reads(templates, (*block.base, block.tag), defined,
                                              bodies):
        raise ManifestError(f"the chart in {tree.overlay} never reads .Values.{dotted}.{block.tag}",
                            hint="Set helm-tag-key to the key its templates read")
    others = image_lines_read_other_keys(chart, (*block.base, block.tag), target.app,
                                         target.workload) if chart and not judged else []
    if others:
        raise ManifestError(f"the chart in {tree.overlay} reads .Values.{dotted}.{block.tag}, but "
                            f"not in an image: its image lines are {'; '.join(others[:4])}; "
                            "nothing was written", input_name="helm-tag-key",
                            hint="Set helm-tag-key/helm-image-key to the keys those image lines "
                            "read")
    plan.proof = ("values keys checked against the chart's templates" if templates else
                  "values file only: no chart in the folder to render (the GitOps controller "
                  "renders it)")


def plan_helmrelease(tree: Tree, target: Target, root: Path) -> OverlayPlan:
    """A Flux HelmRelease's ``spec.values`` (in a resource or patch inside the overlay), proven
    by rendering: only that HelmRelease's values may differ."""
    from gitops_release.helmpatch import base_image_block, check_rendered_pin, plan_patch_keys
    from gitops_release.proof import Renderer

    places = [(file, d) for file in tree.inside() if file.role in ("resource", "patch")
              for d, doc in enumerate(file.parsed.docs)
              if y.scalar(y.get(doc, "kind")) == "HelmRelease"
              and y.node_kind(y.get_path(doc, ("spec", "values"))) == "mapping"]
    named = [(f, d) for f, d in places
             if y.scalar(y.get_path(f.parsed.docs[d], ("metadata", "name"))) == target.app]
    apps = [doc for f in tree.inside() if f.role in ("resource", "patch") for doc in f.parsed.docs
            if y.scalar(y.get(doc, "kind")) == "HelmRelease"
            and y.scalar(y.get_path(doc, ("metadata", "name"))) == target.app]
    places = named if named or apps else places  # the app's own HelmRelease, never another's
    if not places:
        generated = _generated_values(tree, target, root)
        if generated is not None:
            return generated
        raise ManifestError(f"{tree.overlay}: no HelmRelease document inside the folder sets "
                            f"spec.values for {target.app!r}, and none takes its values "
                            "(valuesFrom) from a ConfigMap that the overlay's kustomization "
                            "generates from a values file inside the folder",
                            hint="Add the image keys under spec.values of the HelmRelease (a "
                            "patch inside the overlay), or generate its valuesFrom ConfigMap "
                            "from a values file in the overlay (configMapGenerator files:)")
    if len(places) != 1:
        listing = ", ".join(f"{f.rel} (document {d + 1})" for f, d in places)
        raise ManifestError(f"{tree.overlay}: {len(places)} HelmRelease documents with "
                            f"spec.values inside the folder for {target.app!r}: {listing}",
                            hint="Keep the HelmRelease's values for the app in one document of "
                            "the overlay (a patch of spec.values), with its image keys")
    file, d = places[0]
    values = y.get_path(file.parsed.docs[d], ("spec", "values"))
    name = y.scalar(y.get_path(file.parsed.docs[d], ("metadata", "name")))
    tag_parent = _split(target.helm_tag_key)[:-1] if target.helm_tag_key else ()
    keyed = target  # with the base's keys where the patch holds only their tag (below)
    if not _names_image(values) and (not target.helm_tag_key or (
            tag_parent and y.node_kind(y.get_path(values, tag_parent)) != "mapping")):
        base = base_image_block(tree, name, target)
        generated = _generated_values(tree, target, root) if base is None else None
        if generated is not None:  # spec.values sets other things; the image comes from there
            return generated
        listed = None if base is not None else _listed_image(tree, file, values, name)
        if listed is not None:
            raise ManifestError(f"{listed[0]}: the HelmRelease's spec.values hold the image inside "
                                f"a list (spec.values.{listed[1]}, line {listed[2]}), which the "
                                "receiver does not edit: helm-image-key and helm-tag-key name "
                                "mapping keys only; nothing was written",
                                input_name="helm-image-key",
                                hint="Set the image through mapping keys the chart reads, or "
                                "deploy this release by hand")
        if base is None:
            raise ManifestError(f"{file.rel}: the HelmRelease's spec.values (line "
                                f"{y.line_of(values)}) set no image, so the chart's default runs",
                                hint=f"Add the chart's image keys (e.g. image.repository and "
                                f"image.tag) under spec.values of {file.rel} once; deploys then "
                                "update them")
        plan, must = plan_patch_keys(tree, file, d, target, base)
    else:
        must = []
        try:
            plan = plan_values(tree, file, target, root, base=("spec", "values"), doc_index=d)
        except NoImageBlock as exc:
            # Flux's usual layout: the patch holds only the tag of the block its base sets
            found = None if target.helm_tag_key or not exc.candidates else \
                base_image_block(tree, name, target)
            if found is None or found[2].string or y.node_kind(
                    y.get_path(values, (*found[2].base, found[2].tag))) != "scalar":
                raise
            keyed = _with_keys(target, found[2])
            plan = plan_values(tree, file, keyed, root, base=("spec", "values"), doc_index=d)
            plan.notes.append(f"{file.rel}: spec.values.{'.'.join(found[2].base)}."
                              f"{found[2].tag} is the tag of the image block "
                              f"{found[0].rel} sets (checked in the render)")
    if plan.refusal is not None or all(c.old_text == c.new_text for c in plan.changes):
        return plan  # refused, or nothing to change (the same image deployed again)
    written = file  # the file the change is written to: an inline patch's kustomization
    if isinstance(file, InlinePatch):
        written, change = file.kustomization, plan.changes[0]
        plan.changes = [replace(change, path=written.path, old_text=written.on_disk(written.text),
                                new_text=written.on_disk(file.outer_text(
                                    change.new_text.removeprefix(file.bom))))]
    renderer = Renderer(tree)
    try:
        before = renderer({})
        after = renderer({written.rel: plan.changes[0].new_text.removeprefix(written.bom)})
    finally:
        renderer.close()
    name = y.scalar(y.get_path(file.parsed.docs[d], ("metadata", "name")))
    index = next((i for i, o in enumerate(before) if isinstance(o, dict)
                  and o.get("kind") == "HelmRelease" and
                  (o.get("metadata") or {}).get("name") == name), None)
    if index is not None and plan.values_keys and (
            plan.previous_version is None or plan.previous_image.startswith("?")):
        # the patch sets no tag (or no repository): the merged values say what runs (the
        # base's), for the downgrade check and the previous-image output
        merged = (before[index].get("spec") or {}).get("values") or {}
        registry, repository, tag = (dig(merged, k) if k else None for k in plan.values_keys)
        if isinstance(tag, str | int | float) and str(tag):
            plan.previous_version = str(tag)
            plan.previous_image = f"{f'{registry}/' if registry else ''}{repository or '?'}:{tag}"
    ok = index is not None and len(before) == len(after) and all(
        a == b for i, (a, b) in enumerate(zip(before, after, strict=True)) if i != index)
    if ok and index is not None:
        expected = dict(before[index])
        expected["spec"] = {**before[index].get("spec", {}),
                            "values": after[index].get("spec", {}).get("values")}
        ok = expected == after[index] and before[index] != after[index] and all(
            dig(after[index], ("spec", "values", *path)) == value for path, value in must)
    if ok and index is not None and not must:
        check_rendered_pin(after[index], values, keyed, file.rel)
    if index is not None:
        check_post_renderers(before[index], target, file.rel)
        plan.refusal = plan.refusal or _merged_repository_refusal(before, index, values, keyed,
                                                                  file.rel)
        if plan.refusal is not None:
            plan.changes = []
            return plan
    if not ok:
        raise ManifestError(f"the planned edit of {file.rel} does not render as the deploy needs "
                            f"(only the HelmRelease {name}'s values may change); nothing was "
                            "written", hint="Put the image keys in the HelmRelease document "
                            "that the overlay's render takes its values from")
    plan.proof = f"{renderer.proof} ({renderer.count} renders; the chart renders in the cluster)"
    plan.render_seconds = renderer.seconds
    return plan


def _merge(base: Any, over: Any) -> Any:
    """Helm's merge of values: maps key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


def _merged_repository_refusal(render: list[Any], index: int, values: y.Node, target: Target,
                               shown: str) -> Refusal | None:
    """The repository the HelmRelease runs once Flux merges its values (valuesFrom entries in
    order, then spec.values), compared with the new image's: a tag key set in ``spec.values``
    whose repository comes from a valuesFrom ConfigMap or Secret of the render."""
    try:
        block = find_block(values, target, shown)
    except ManifestError:
        return None
    if block.string or not block.repository:
        return None
    release = render[index]
    space = dig(release, ("metadata", "namespace")) or ""
    objects = {(o.get("kind"), dig(o, ("metadata", "namespace")) or "",
                dig(o, ("metadata", "name"))): o for o in render if isinstance(o, dict)}
    merged: Any = {}
    for ref in dig(release, ("spec", "valuesFrom")) or []:
        if isinstance(ref, dict):
            data = _entry_values(objects, space, ref)
            if data is _UNKNOWN:
                return None  # not in the render: what it sets is not known here
            merged = _merge(merged, data)
    merged = _merge(merged, dig(release, ("spec", "values")) or {})
    at = block.base if block.repository_at is None else block.repository_at
    mapping = dig(merged, at) if at else merged
    if not isinstance(mapping, dict) or not isinstance(mapping.get(block.repository), str) or \
            not mapping[block.repository]:
        return None  # no repository, or an empty one the chart fills in
    repo = mapping[block.repository]
    registry = mapping.get(block.registry) if block.registry else None
    full = f"{registry}/{repo}" if isinstance(registry, str) and registry else repo
    return repository_refusal(f"{shown}: the HelmRelease's merged values "
                              f"({'.'.join((*block.base, block.repository))}) give", full, target)


def check_post_renderers(release: Any, target: Target, shown: str) -> None:
    """Refuse a values edit that a post-renderer undoes: Flux applies a HelmRelease's
    ``spec.postRenderers[].kustomize.images`` after the chart renders, so an entry for the
    target's repository decides the image, whatever the values say."""
    renderers = dig(release, ("spec", "postRenderers"))
    for i, item in enumerate(renderers if isinstance(renderers, list) else []):
        images = dig(item, ("kustomize", "images"))
        for entry in images if isinstance(images, list) else []:
            if not isinstance(entry, dict) or not same_repository(str(entry.get("name", "")),
                                                                  target.image.name):
                continue
            if not any(entry.get(k) for k in ("newTag", "newName", "digest")):
                continue
            pinned = ", ".join(f"{k}: {entry[k]}" for k in ("newName", "newTag", "digest")
                               if entry.get(k))
            name = (release.get("metadata") or {}).get("name")
            raise ManifestError(
                f"{shown}: HelmRelease {name}'s post-renderer (spec.postRenderers[{i}].kustomize."
                f"images, {entry.get('name')}) sets {pinned} after the chart renders, so an edit "
                "of its values would deploy nothing; nothing was written",
                hint="Remove that images entry from the post-renderer (deploys then update the "
                "values), or keep the image there and deploy it by hand")


def _names_image(values: y.Node | None) -> bool:
    """Whether a values mapping has an ``image`` or ``tag`` key anywhere (quoted or flow style
    alike)."""
    stack = [(values, 0)]
    while stack:
        node, depth = stack.pop()
        if node is None or y.node_kind(node) != "mapping" or depth > 8:
            continue
        for key, value in node.value:
            if y.scalar(key) in ("image", "tag"):
                return True
            stack.append((value, depth + 1))
    return False


def _listed_image(tree: Tree, file: SourceFile, values: y.Node,
                  name: str | None) -> tuple[str, str, int] | None:
    """(file, path, line) of an image inside a list of the HelmRelease's values: the overlay's
    document, else a HelmRelease of the same name elsewhere in the tree (its base)."""
    places = [(file.rel, values)] + [
        (f.rel, y.get_path(doc, ("spec", "values"))) for f in tree.files.values()
        for doc in f.parsed.docs if y.scalar(y.get(doc, "kind")) == "HelmRelease"
        and y.scalar(y.get_path(doc, ("metadata", "name"))) == name]
    for where, node in places:
        found = _image_in_a_list(node)
        if found is not None:
            return where, *found
    return None


def _image_in_a_list(values: y.Node | None) -> tuple[str, int] | None:
    """The dotted path (with list indexes) and line of an ``image`` key that sits inside a
    list of the values (``template.spec.containers[0].image``), or None."""
    stack: list[tuple[y.Node, str, bool, int]] = [(values, "", False, 0)]
    while stack:
        node, at, listed, depth = stack.pop()
        if node is None or depth > 12:
            continue
        if y.node_kind(node) == "mapping":
            for key, value in node.value:
                name = f"{at}.{y.scalar(key)}" if at else str(y.scalar(key))
                if listed and y.scalar(key) == "image" and y.node_kind(value) == "scalar":
                    return name, y.line_of(value)
                stack.append((value, name, listed, depth + 1))
        elif y.node_kind(node) == "sequence":
            for i, item in enumerate(y.iter_items(node)):
                stack.append((item, f"{at}[{i}]", True, depth + 1))
    return None


def _generated_values(tree: Tree, target: Target, root: Path) -> OverlayPlan | None:
    """A HelmRelease taking its values (``valuesFrom``) from a ConfigMap that the overlay's own
    kustomization generates from a values file inside the folder (Flux's layout): that file is
    edited like a chart's values.yaml, and proven by rendering. None when there is no such
    file; ``helm-values-file`` picks one of several."""
    from gitops_release.discovery import read_file

    kust = tree.kustomization
    if kust is None or not kust.file.inside or not kust.file.parsed.docs:
        return None
    wanted: set[tuple[str, str]] = set()  # (ConfigMap name, values key)
    releases = [doc for file in tree.inside() for doc in file.parsed.docs
                if y.scalar(y.get(doc, "kind")) == "HelmRelease"]
    named = [d for d in releases if y.scalar(y.get_path(d, ("metadata", "name"))) == target.app]
    for doc in named or releases:
        for ref in y.iter_items(y.get_path(doc, ("spec", "valuesFrom"))):
            if y.scalar(y.get(ref, "kind")) == "ConfigMap" and y.scalar(y.get(ref, "name")):
                wanted.add((str(y.scalar(y.get(ref, "name"))),
                            str(y.scalar(y.get(ref, "valuesKey")) or "values.yaml")))
    found: list[tuple[str, str, str]] = []  # (file, ConfigMap name, key)
    for gen in y.iter_items(y.get(kust.file.parsed.docs[0], "configMapGenerator")):
        name = str(y.scalar(y.get(gen, "name")) or "")
        for entry in y.iter_items(y.get(gen, "files")):
            text = str(y.scalar(entry) or "")
            key, _, ref = text.rpartition("=")
            rel = posixpath.normpath(posixpath.join(kust.folder, ref))
            key = key or posixpath.basename(ref)
            if (name, key) in wanted and rel.startswith(tree.overlay.rstrip("/") + "/") and \
                    rel in tree.other_files and rel not in tree.shared and \
                    (not target.helm_values_file or
                     posixpath.basename(rel) == target.helm_values_file):
                found.append((rel, name, key))
    if len(found) != 1:
        if found:
            raise ManifestError(f"{tree.overlay}: the HelmRelease's values come from "
                                f"{', '.join(f[0] for f in found)}", input_name="helm-values-file",
                                hint="Set helm-values-file to the name of the one to edit: "
                                + " or ".join(sorted({posixpath.basename(f[0]) for f in found})))
        return None
    rel, configmap, key = found[0]
    text, bom = read_file(root / rel, rel)
    file = SourceFile(rel, root / rel, text, y.parse(text, rel), "values", True, {}, bom)
    plan = plan_values(tree, file, target, root)
    if plan.refusal is not None or not plan.changes:
        return plan
    from gitops_release.proof import Renderer

    renderer = Renderer(tree)
    try:
        before = renderer({})
        after = renderer({rel: plan.changes[0].new_text}, planned=True)
    finally:
        renderer.close()
    if not _only_generated_values(before, after, configmap, key, (file.on_disk(text),
                                                                  plan.changes[0].new_text)):
        raise ManifestError(f"the planned edit of {rel} does not render as the deploy needs "
                            f"(only the ConfigMap {configmap}'s {key} and its name's hash may "
                            "change); nothing was written",
                            hint="Keep the image keys in the values file the HelmRelease's "
                            "valuesFrom ConfigMap is generated from")
    _check_values_decide(after, configmap, key, plan, rel, target)
    plan.proof = (f"{renderer.proof} ({renderer.count} renders: only ConfigMap {configmap}'s "
                  f"{key}, the HelmRelease's valuesFrom, changed; the chart renders in the "
                  "cluster)")
    plan.render_seconds = renderer.seconds
    return plan


def _check_values_decide(render: list[Any], configmap: str, key: str, plan: OverlayPlan,
                         rel: str, target: Target) -> None:
    """Refuse an edit of a generated values ConfigMap that does not deploy the app alone: no
    HelmRelease of the render takes it (a name or namespace kustomize did not link); the app's
    HelmRelease takes it with a ``targetPath``, or a later ``valuesFrom`` entry or its
    ``spec.values`` sets the keys written (Flux merges them in that order: the edit would deploy
    nothing); or another HelmRelease takes it without overriding them (the edit would deploy
    that one too). A later entry the render does not hold is named in a note."""
    app = target.app
    objects = {(o.get("kind"), dig(o, ("metadata", "namespace")) or "",
                dig(o, ("metadata", "name"))): o for o in render if isinstance(o, dict)}
    generated = [o for o in render if _generated_from(o, configmap)]
    if len(generated) != 1:
        return  # _only_generated_values has refused already
    space = dig(generated[0], ("metadata", "namespace")) or ""
    name = dig(generated[0], ("metadata", "name"))
    change = plan.changes[0]
    written = _changed_paths(_yaml_data(change.old_text), _yaml_data(change.new_text))
    users: list[tuple[str, str | None]] = []  # (release, why the edit does not reach it)
    for obj in render:
        if not isinstance(obj, dict) or obj.get("kind") != "HelmRelease" or \
                (dig(obj, ("metadata", "namespace")) or "") != space:
            continue
        refs = [r for r in dig(obj, ("spec", "valuesFrom")) or [] if isinstance(r, dict)]
        mine = [i for i, r in enumerate(refs) if r.get("kind") == "ConfigMap" and
                r.get("name") == name and (r.get("valuesKey") or "values.yaml") == key]
        if not mine:
            continue
        check_post_renderers(obj, target, rel)
        release = str(dig(obj, ("metadata", "name")))
        users.append((release, _overridden(objects, space, refs, mine[-1], written, plan,
                                           f"HelmRelease {release}", rel,
                                           dig(obj, ("spec", "values")))))
    if not users:
        raise ManifestError(
            f"no HelmRelease of the render takes its values from ConfigMap {name}"
            + (f" in namespace {space}" if space else "") + f" (generated from {rel}): the "
            "generated name or namespace does not reach the HelmRelease; nothing was written",
            hint="Give the HelmRelease the ConfigMap's namespace, and list a nameReference "
            "configuration (configurations:) for spec/valuesFrom/name so that kustomize links "
            "the generated name")
    own = [u for u in users if u[0] == app] or users
    for release, why in own:
        if why:
            raise ManifestError(f"HelmRelease {release} {why}: this edit of {rel} would deploy "
                                "nothing; nothing was written",
                                hint="Remove those keys there, or deploy through the values "
                                "the release really takes")
    also = [release for release, why in users if (release, why) not in own and not why]
    if also:
        raise ManifestError(f"{rel} (ConfigMap {configmap}) is also the values of HelmRelease "
                            f"{', '.join(also)}: this edit would deploy {app}'s image there too; "
                            "nothing was written",
                            hint=f"Give {app} a values file of its own, or set the image in "
                            f"the spec.values of {', '.join(also)}")


def _overridden(objects: dict[tuple[Any, Any, Any], Any], space: str, refs: list[dict[str, Any]],
                mine: int, written: list[tuple[Any, ...]], plan: OverlayPlan, release: str,
                rel: str, values: Any) -> str | None:
    """Why the keys ``written`` in the file the valuesFrom entry ``mine`` takes do not reach
    the chart of ``release`` (None: they do)."""
    if refs[mine].get("targetPath"):
        return (f"takes {rel} with targetPath {refs[mine].get('targetPath')}: Flux sets that "
                "one value to the file's whole text")
    later: list[tuple[str, Any]] = [
        (f"{r.get('kind')} {r.get('name')} (valuesFrom entry {i + 1})",
         _entry_values(objects, space, r)) for i, r in enumerate(refs) if i > mine]
    later.append(("its spec.values", values))
    for shown, data in later:
        if data is _UNKNOWN:
            plan.notes.append(f"{release} takes {shown} after {rel}, and the render does not "
                              "hold it: if it sets the image keys, it decides the image")
            continue
        hit = [p for p in written if _has_path(data, p) or _replaces(data, p)]
        if hit:
            return (f"takes {shown} after {rel}, which sets "
                    f"{', '.join('.'.join(map(str, p)) for p in hit)} (Flux merges it over)")
    return None


_UNKNOWN = object()


def _entry_values(objects: dict[tuple[Any, Any, Any], Any], space: str, ref: dict[str, Any]) -> Any:
    """What a valuesFrom entry adds, as Flux reads it; _UNKNOWN when the render lacks it."""
    import base64

    obj = objects.get((ref.get("kind"), space, ref.get("name")))
    if obj is None:
        return _UNKNOWN
    raw = dig(obj, ("data", ref.get("valuesKey") or "values.yaml"))
    if ref.get("kind") == "Secret" and isinstance(raw, str):
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except ValueError:
            return _UNKNOWN
    if raw is None and ref.get("kind") == "Secret":
        raw = dig(obj, ("stringData", ref.get("valuesKey") or "values.yaml"))
    if not isinstance(raw, str):
        return None
    value = raw if ref.get("targetPath") else _yaml_data(raw)
    for part in reversed(str(ref.get("targetPath") or "").split(".")):
        if part:
            value = {part: value}
    return value


def _yaml_data(text: str) -> Any:
    """The one document of values ``text`` as data; None when it does not load (values that
    do not load prove nothing)."""
    from gitops_release.render import load_documents

    try:
        docs = load_documents(text.removeprefix("\ufeff"), "values")
    except ManifestError:
        return None
    return docs[0] if len(docs) == 1 else None


def _changed_paths(old: Any, new: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [p for k in sorted(set(old) | set(new), key=str)
                for p in _changed_paths(old.get(k), new.get(k), (*at, k))]
    return [] if old == new else [at]


def _replaces(values: Any, path: tuple[Any, ...]) -> bool:
    """Whether ``values`` sets a parent of ``path`` to something that is not a mapping (a
    targetPath entry replacing ``image`` with a string): the written key is gone."""
    for part in path[:-1]:
        if not isinstance(values, dict) or part not in values:
            return False
        values = values[part]
        if not isinstance(values, dict):
            return True
    return False


def _has_path(values: Any, path: tuple[Any, ...]) -> bool:
    for part in path:
        if not isinstance(values, dict) or part not in values:
            return False
        values = values[part]
    return True


def _only_generated_values(before: list[Any], after: list[Any], configmap: str, key: str,
                           texts: tuple[str, str]) -> bool:
    """Whether ``after`` is ``before`` with only the generated ConfigMap's ``key`` holding the
    planned values (``texts``: old and new file) and its name's hash, where a HelmRelease's
    valuesFrom names it, following."""
    index = [i for i, obj in enumerate(before) if _generated_from(obj, configmap)]
    if len(before) != len(after) or len(index) != 1 or \
            [i for i, obj in enumerate(after) if _generated_from(obj, configmap)] != index:
        return False
    old, new = before[index[0]], after[index[0]]
    loaded = [_yaml_data(data) if isinstance(data := dig(obj, ("data", key)), str) else None
              for obj in (old, new)]
    if loaded != [_yaml_data(t) for t in texts] or None in loaded:
        return False
    fixed = copy.deepcopy(after)
    renamed = str(dig(new, ("metadata", "name")))
    fixed[index[0]]["metadata"]["name"] = dig(old, ("metadata", "name"))
    fixed[index[0]]["data"][key] = old["data"][key]
    for obj in fixed:
        if isinstance(obj, dict) and obj.get("kind") == "HelmRelease":
            for ref in dig(obj, ("spec", "valuesFrom")) or []:
                if isinstance(ref, dict) and ref.get("kind") == "ConfigMap" and \
                        ref.get("name") == renamed:
                    ref["name"] = dig(old, ("metadata", "name"))
    return fixed == before


def _generated_from(obj: Any, configmap: str) -> bool:
    """Whether ``obj`` is the ConfigMap generated as ``configmap`` (its name's hash aside)."""
    name = str(dig(obj, ("metadata", "name")) or "")
    return isinstance(obj, dict) and obj.get("kind") == "ConfigMap" and (
        name == configmap or name.startswith(configmap + "-"))
