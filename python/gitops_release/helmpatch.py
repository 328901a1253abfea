"""A Flux HelmRelease whose image keys only a shared base sets: the overlay's patch of
``spec.values`` gets them, as a new ``images:`` entry does for a kustomize overlay.

The base HelmRelease (outside the overlay folder, so other overlays use it) is never edited. The
keys of its image block (found as in a values file: ``image.repository``/``image.tag``, a block
named after the app, or the named ``helm-*-key`` inputs) are added under ``spec.values`` of the
overlay's patch of that HelmRelease: the tag, and the digest where the base pins one (a stale pin
would outlive the new tag). Strategic merge merges them over the base's values; the caller proves
it by rendering (only that HelmRelease's values may change). Whatever path wrote the overlay's
keys, a render that still carries a digest from elsewhere beside the new tag is refused
(``check_rendered_pin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitops_release import yamledit as y
from gitops_release.discovery import SourceFile, Tree
from gitops_release.errors import ManifestError
from gitops_release.manifests import FileChange, OverlayPlan, Refusal, Target, repository_refusal
from gitops_release.targets import dig, parsed_image

if TYPE_CHECKING:
    from gitops_release.helmvalues import Block


def base_image_block(tree: Tree, name: str | None, target: Target) -> tuple[
        SourceFile, y.Node, Block] | None:
    """The base HelmRelease named ``name`` outside the overlay whose ``spec.values`` set the
    target's image: (its file, its values, the image block), or None."""
    from gitops_release.helmvalues import NoImageBlock, find_block

    ambiguous: NoImageBlock | None = None
    for file in tree.files.values():
        if file.inside:
            continue
        for doc in file.parsed.docs:
            values = y.get_path(doc, ("spec", "values"))
            if y.scalar(y.get(doc, "kind")) != "HelmRelease" or \
                    y.scalar(y.get_path(doc, ("metadata", "name"))) != name or \
                    y.node_kind(values) != "mapping":
                continue
            try:
                return file, values, find_block(values, target, file.rel)
            except ManifestError as exc:  # not this document's image: the next one
                if isinstance(exc, NoImageBlock) and exc.candidates:
                    ambiguous = ambiguous or exc
    if ambiguous is not None:
        raise ambiguous  # the base sets the image, in several blocks: say which, and how to pick
    return None


def plan_patch_keys(tree: Tree, file: SourceFile, d: int, target: Target,
                    base: tuple[SourceFile, y.Node, Block]) -> tuple[
        OverlayPlan, list[tuple[tuple[str, ...], str]]]:
    """Add the image keys of ``base`` to the overlay's HelmRelease patch ``file`` (document
    ``d``): the plan, and the keys (paths under spec.values) with the values the render of the
    overlay must then show."""
    base_file, base_values, block = base
    keys, values = _new_keys(base_file, base_values, block, target)
    plan = OverlayPlan(tree.overlay, target=f"{file.rel} {'.'.join(keys[0][0][:-1]) or '(top)'}")
    plan.previous_image, plan.previous_version, refusal = values
    if refusal is not None:
        plan.refusal = refusal
        return plan, keys
    parsed = file.parsed
    parent = keys[0][0][:-1]  # every key is a leaf of the base's image block
    leaves: dict[str, object] = {path[-1]: value for path, value in keys}
    node, have = y.get_path(parsed.docs[d], ("spec", "values")), tuple[str, ...]()
    for key in parent:
        child = y.get(node, key)
        if y.node_kind(child) != "mapping":
            break
        node, have = child, (*have, key)
    rest = parent[len(have):]
    if not rest and len(leaves) > 1:
        raise ManifestError(f"{file.rel}: spec.values holds {'.'.join(parent) or 'the top'} "
                            f"without {', '.join(leaves)}", hint=f"Add {', '.join(leaves)} to "
                            f"it once, as {base_file.rel} has them; deploys then update them")
    first, nested = (rest[0], leaves) if rest else next(iter(leaves.items()))
    for key in reversed(rest[1:]):
        nested = {key: nested}
    edits = [y.add_key(parsed, node, first, nested, f"{file.rel} spec.values")]
    intents = [y.Intent("add", d, ("spec", "values", *have, first), nested)]
    new_text = y.apply_edits(file.text, edits, file.rel)
    y.verify(parsed, new_text, intents)
    plan.places.append(plan.target)
    plan.notes.append(f"{file.rel}: {', '.join('.'.join(p) for p, _ in keys)} added under "
                      f"spec.values for this overlay; {base_file.rel} keeps its own for the others")
    plan.changes = [FileChange(file.path, file.on_disk(file.text), file.on_disk(new_text),
                               plan.previous_image, plan.previous_version, "values")]
    return plan, keys


def _new_keys(base_file: SourceFile, values: y.Node, block: Block, target: Target) -> tuple[
        list[tuple[tuple[str, ...], str]], tuple[str, str | None, Refusal | None]]:
    """The keys to add (path under spec.values, value) and (previous image, previous version,
    refusal) from the base's block."""
    base = block.base
    if block.string:
        current = y.scalar(y.get(values, "image")) or ""
        image = parsed_image(current)
        refusal = repository_refusal(f"{base_file.rel} sets the image",
                                     image.name if image else None, target)
        return [(("image",), str(target.image))], (current, image.tag if image else None, refusal)
    mapping = y.get_path(values, base)
    home = mapping if block.repository_at is None else y.get_path(values, block.repository_at)
    repo = y.scalar(y.get(home, block.repository))
    registry = y.scalar(y.get(home, block.registry)) if block.registry \
        else None
    tag = y.scalar(y.get(mapping, block.tag))
    full = f"{registry}/{repo}" if registry and repo else repo
    keys = [((*base, block.tag), target.image.tag or "")]
    digest_key = block.digest
    if digest_key and (y.scalar(y.get(mapping, digest_key)) or target.image.digest):
        keys.append(((*base, digest_key), target.image.digest or ""))
    refusal = repository_refusal(f"{base_file.rel} sets the image", full or None, target)
    return keys, (f"{full or '?'}:{tag}" if tag else (full or ""), tag, refusal)


def check_rendered_pin(release: object, values: y.Node, target: Target, shown: str) -> None:
    """Refuse a render that keeps a digest from elsewhere (a base HelmRelease pins one that the
    overlay's patch does not set) beside the new tag: the old image would keep running."""
    from gitops_release.helmvalues import find_block

    try:
        block = find_block(values, target, shown)
    except ManifestError:
        return
    rendered = dig(release, ("spec", "values", *block.base))
    if block.string or not block.digest or not isinstance(rendered, dict):
        return
    pin = rendered.get(block.digest)
    if pin and str(pin) != (target.image.digest or ""):
        dotted = ".".join((*block.base, block.digest))
        raise ManifestError(f"{shown}: the overlay's render keeps {dotted}: {pin}, set outside "
                            "the overlay (a base HelmRelease), which pins the old image beside "
                            "the new tag; nothing was written",
                            hint=f"Add {dotted} to {shown} once (empty, or the digest); deploys "
                            "then update it")
