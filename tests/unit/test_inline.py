"""Inline patches as files: edits of a literal block's text mapped back into the kustomization,
each checked by parsing the result (the block's value is exactly the patch's new text, nothing
else moved) and against the expected text byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_release import yamledit as y
from gitops_release.discovery import Kustomization, SourceFile, Tree
from gitops_release.errors import ManifestError
from gitops_release.inline import InlinePatch, find, fold

SMP = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
       "    spec:\n      containers:\n        - name: web\n          image: acme/web:1.0.0\n"
       "          env:\n            - name: LOG\n              value: info\n")
ENV = {"name": "APP_RELEASEVERSION", "value": "web@2.0.0"}


def _tree(text: str) -> Tree:
    file = SourceFile("o/kustomization.yaml", Path("o/kustomization.yaml"), text,
                      y.parse(text, "o/kustomization.yaml"), "kustomization", True)
    tree = Tree(Path(), "o")
    tree.kustomizations.append(Kustomization("o", file))
    find(tree)
    return tree


def _block(text: str, indent: int = 6, nl: str = "\n") -> str:
    return "".join((" " * indent + line if line else "") + nl for line in text.splitlines())


def _deploy(tree: Tree, patch: InlinePatch) -> str:
    """Set the image and append the release env var in ``patch``; the kustomization's new text
    (its parse checked by ``y.verify`` with the block's intended value)."""
    doc = patch.parsed.docs[0]
    container = y.get_path(doc, ("spec", "template", "spec", "containers", 0))
    path = ("spec", "template", "spec", "containers", 0)
    image = y.set_scalar(patch.parsed, y.get(container, "image"), "acme/web:2.0.0", "image")
    assert image is not None
    edits = [(patch.rel, image, y.Intent("set", 0, (*path, "image"), "acme/web:2.0.0")),
             (patch.rel, y.append_item(patch.parsed, y.get(container, "env"), ENV, "env"),
              y.Intent("append", 0, (*path, "env"), ENV))]
    by_file, intents = fold(tree, edits)
    outer = patch.kustomization
    new = y.apply_edits(outer.text, by_file[outer.rel])
    y.verify(outer.parsed, new, intents[outer.rel])
    return new


EXPECTED = SMP.replace("acme/web:1.0.0", "acme/web:2.0.0") + \
    "            - name: APP_RELEASEVERSION\n              value: web@2.0.0\n"


@pytest.mark.parametrize("chomp", ["|", "|-", "|+"])
def test_an_inline_patch_is_edited_inside_its_block(chomp: str) -> None:
    text = f"resources:\n  - ../base\npatches:\n  - patch: {chomp}\n{_block(SMP)}" \
           "  - path: other.yaml\n"
    tree = _tree(text)
    [patch] = tree.inline
    assert isinstance(patch, InlinePatch) and patch.text == SMP and patch.role == "patch"
    new = _deploy(tree, patch)
    assert new == f"resources:\n  - ../base\npatches:\n  - patch: {chomp}\n{_block(EXPECTED)}" \
                  "  - path: other.yaml\n"


def test_blank_lines_and_the_kept_final_lines_of_a_block_stay_as_they_are() -> None:
    """A blank line inside the block (shorter than its indentation) and the final blank lines
    that |+ keeps: the new env item goes before them, indented as the block is."""
    body = SMP.replace("    spec:\n", "    spec:\n\n")
    text = f"patches:\n  - patch: |+\n{_block(body)}  \n\n  - path: other.yaml\n"
    tree = _tree(text)
    [patch] = tree.inline
    new = _deploy(tree, patch)
    expected = EXPECTED.replace("    spec:\n", "    spec:\n\n")
    assert new == f"patches:\n  - patch: |+\n{_block(expected)}  \n\n  - path: other.yaml\n"


@pytest.mark.parametrize("chomp", ["|", "|-", "|+"])
def test_a_block_at_the_end_of_the_file_without_a_final_line_break(chomp: str) -> None:
    """The new lines go before the end of the file, which stays without a line break (one
    there would join the value of a | or |+ block: refused, it was)."""
    text = f"patches:\n  - patch: {chomp}\n{_block(SMP)}".removesuffix("\n")
    tree = _tree(text)
    [patch] = tree.inline
    new = _deploy(tree, patch)
    assert new == f"patches:\n  - patch: {chomp}\n{_block(EXPECTED)}".removesuffix("\n")


def test_a_blank_line_keeps_its_spaces_when_lines_go_before_it() -> None:
    """A line of spaces fewer than the block's indentation right after the container: the env
    item goes before it, and the line keeps its two spaces (they moved onto the new line)."""
    body = SMP + "        - name: side\n          image: busybox\n"
    text = f"patches:\n  - patch: |\n{_block(body)}".replace(
        "value: info\n      ", "value: info\n  \n      ")
    tree = _tree(text)
    [patch] = tree.inline
    new = _deploy(tree, patch)
    assert new == f"patches:\n  - patch: |\n{_block(EXPECTED + body[len(SMP):])}".replace(
        "value: web@2.0.0\n      ", "value: web@2.0.0\n  \n      ")


def test_a_key_added_after_a_block_that_ends_the_file_without_a_line_break_is_refused() -> None:
    """What is added after a | block at the end of a file without a final line break would give
    that block's value a line break: a refusal naming the block's line, not a vague one."""
    text = f"patches:\n  - patch: |\n{_block(SMP)}".removesuffix("\n")
    parsed = y.parse(text, "k.yaml")
    with pytest.raises(ManifestError, match=r"k.yaml ends without a line break right after the "
                       r"block scalar at line 2"):
        y.add_key(parsed, parsed.docs[0], "images", [{"name": "x", "newTag": "1"}], "images:")
    dash = text.replace("patch: |\n", "patch: |-\n")
    parsed = y.parse(dash, "k.yaml")
    edit = y.add_key(parsed, parsed.docs[0], "images", [{"name": "x", "newTag": "1"}], "images:")
    assert y.apply_edits(dash, [edit]) == dash + '\nimages:\n  - name: x\n    newTag: "1"\n'


def test_crlf_line_breaks_are_kept() -> None:
    text = f"patches:\r\n  - patch: |\r\n{_block(SMP, nl=chr(13) + chr(10))}images: []\r\n"
    tree = _tree(text)
    [patch] = tree.inline
    new = _deploy(tree, patch)
    assert new == f"patches:\r\n  - patch: |\r\n{_block(EXPECTED, nl=chr(13) + chr(10))}images: []\r\n"


def test_strategic_merge_and_json6902_items_are_read_with_their_targets() -> None:
    op = "- op: replace\n  path: /spec/template/spec/containers/0/image\n  value: acme/web:1\n"
    text = (f"patchesStrategicMerge:\n  - |-\n{_block(SMP, 4)}patchesJson6902:\n  - target:\n"
            f"      kind: Deployment\n      name: web\n    patch: |\n{_block(op)}")
    tree = _tree(text)
    json, smp = tree.inline
    assert isinstance(smp, InlinePatch) and isinstance(json, InlinePatch)
    assert (smp.rel, smp.role, smp.text) == ("o/kustomization.yaml#patchesStrategicMerge[0]",
                                             "patch", SMP)
    assert (json.role, json.patch_target, json.text) == (
        "json6902", {"kind": "Deployment", "name": "web"}, op)
    value = y.get(json.parsed.docs[0].value[0], "value")
    edit = y.set_scalar(json.parsed, value, "acme/web:2", "value")
    assert edit is not None
    by_file, intents = fold(tree, [(json.rel, edit, y.Intent("set", 0, (0, "value"), "acme/web:2"))])
    new = y.apply_edits(text, by_file["o/kustomization.yaml"])
    y.verify(json.kustomization.parsed, new, intents["o/kustomization.yaml"])
    assert new == text.replace("value: acme/web:1", "value: acme/web:2")


@pytest.mark.parametrize(("block", "why"), [
    (f"patch: >\n{_block(SMP)}", "not a literal block"),
    (f"patch: |2\n{_block(SMP, 6)}", "not a literal block"),
    ('patch: "' + SMP.replace("\n", "\\n") + '"\n', "not a literal block"),
    ("patch: |\n      kind: [unclosed\n      x: 1\n", "does not parse"),
])
def test_blocks_it_cannot_map_exactly_are_named_not_edited(block: str, why: str) -> None:
    tree = _tree(f"patches:\n  - {block}")
    assert tree.inline == []
    [(where, _)] = tree.inline_refused
    assert where.startswith("o/kustomization.yaml patches[0] (line 2): ") and why in where


def test_an_edit_that_would_not_read_back_exactly_is_refused() -> None:
    """An edit whose mapped text would end the block early (a line less indented than the
    block) is caught by the kustomization's parse: refused, nothing applied."""
    tree = _tree(f"patches:\n  - patch: |\n{_block(SMP)}")
    [patch] = tree.inline
    node = y.get_path(patch.parsed.docs[0], ("metadata", "name"))
    bad = y.Edit(node.start_mark.index, node.end_mark.index, "web\n\x00")
    with pytest.raises(ManifestError):
        fold(tree, [(patch.rel, bad, y.Intent("set", 0, ("metadata", "name"), "web"))])
