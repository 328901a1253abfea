"""Inline patches: a patch written in the kustomization itself, as a literal block (``patch: |``
under ``patches:``/``patchesJson6902:``, or a ``|`` item of ``patchesStrategicMerge:``).

Each one is read as a file of its own (an ``InlinePatch``: the block's text without its
indentation, parsed and checked like any file), so the places that a patch file offers (a
container's image and env, a JSON patch op's value) are found in it the same way. An edit of that
text is mapped back into the kustomization: the same offsets shifted by the block's indentation,
every new line indented as the block is. Nothing else of the kustomization moves.

The proof is twofold before anything is written: the patch's new text is parsed and compared node
by node with the intended result (as for a file), and the kustomization's new text is parsed and
compared with the old one, where only that block's value may differ and it must equal the
patch's new text exactly (its chomping kept). The render then shows what the patch does.

A block the receiver cannot map exactly (folded ``>``, an explicit indentation indicator, a
quoted or plain multi-line scalar, text that does not read back as its value) is not made
editable; ``refused`` says which and why, for the messages that name the inline patches.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from gitops_release import yamledit as y
from gitops_release.discovery import SourceFile, Tree
from gitops_release.errors import ManifestError

PATCH_KEYS = ("patches", "patchesJson6902", "patchesStrategicMerge")
HEADER = re.compile(r"\|([+-]?)[ \t]*(?:#[^\n]*)?\r?\n")  # a literal block's header, no indicator


@dataclass
class InlinePatch(SourceFile):
    """A kustomization's inline patch as a file: ``text`` is the block's content without its
    indentation; ``outer`` the kustomization, ``node_path`` where the block is in it."""

    outer: SourceFile | None = None
    node_path: tuple[y.PathKey, ...] = ()
    indent: int = 0
    starts: list[int] = field(default_factory=list)  # each line's offset in ``text``
    outer_starts: list[int] = field(default_factory=list)  # ... and in the kustomization
    removed: list[int] = field(default_factory=list)  # indentation removed from each line
    region_end: int = 0  # where the content ends in the kustomization (after its last line)
    trailing: str = ""  # the block value's final line breaks (its chomping)

    @property
    def kustomization(self) -> SourceFile:
        if self.outer is None:
            raise ValueError(f"{self.rel}: an inline patch without its kustomization")
        return self.outer

    def _position(self, offset: int) -> tuple[int, int | None]:
        """Where ``offset`` of ``text`` is in the kustomization, and its line (None: the end)."""
        if offset >= len(self.text):
            return self.region_end, None
        line = bisect.bisect_right(self.starts, offset) - 1
        removed = self.removed[line]
        if removed < self.indent and offset == self.starts[line]:
            removed = 0  # a blank line's start: before its spaces, which stay on it
        return self.outer_starts[line] + removed + offset - self.starts[line], line

    def _rest_of_line(self, offset: int, line: int | None) -> bool:
        """Whether the line of ``offset`` has content after it (not just its line break)."""
        if line is None:
            return False
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        return self.text[offset:end].strip("\r\n") != ""

    def outer_edit(self, edit: y.Edit) -> y.Edit:
        """``edit`` of the patch's text as an edit of the kustomization."""
        start, first = self._position(edit.start)
        end, last = self._position(edit.end)
        parts = edit.new.split("\n")
        pad = ""
        if parts[0].strip("\r"):
            if first is None:
                pad = " " * self.indent  # a new line after the block's last one
            elif edit.start == self.starts[first] and self.removed[first] < self.indent:
                pad = " " * self.indent  # a blank line's start
        out = [pad + parts[0]]
        for j, part in enumerate(parts[1:], 1):
            filled = part.strip("\r") != "" or (j == len(parts) - 1 and self._rest_of_line(edit.end, last))
            out.append("\n" + (" " * self.indent if filled else "") + part)
        new = "".join(out)
        outer = self.kustomization.text
        if end == len(outer) and not outer.endswith("\n") and new.endswith("\n"):
            # the block ends the file without a line break: so do its new last lines (one
            # there would add a line break to the block's value)
            new = new[:-2] if new.endswith("\r\n") else new[:-1]
        return y.Edit(start, end, new)

    def outer_text(self, text: str) -> str:
        """The kustomization's text with the patch's text changed to ``text`` (one edit from
        the first changed character to the last), proven as the module says."""
        outer = self.kustomization
        head = 0
        limit = min(len(text), len(self.text))
        while head < limit and text[head] == self.text[head]:
            head += 1
        tail = 0
        while tail < limit - head and text[-1 - tail] == self.text[-1 - tail]:
            tail += 1
        edit = self.outer_edit(y.Edit(head, len(self.text) - tail, text[head:len(text) - tail]))
        new = y.apply_edits(outer.text, [edit], outer.rel)
        y.verify(outer.parsed, new, [y.Intent("set", 0, self.node_path, self.value_of(text))])
        return new

    def value_of(self, text: str) -> str:
        """The block's value in the kustomization when the patch's text is ``text``."""
        return text.replace("\r\n", "\n").rstrip("\n") + self.trailing


def find(tree: Tree) -> None:
    """The inline patches of the overlay's own kustomizations: editable ones in
    ``tree.inline``, the others (and why) in ``tree.inline_refused``."""
    for kust in tree.kustomizations:
        file = kust.file
        if not file.inside or not file.parsed.docs or "patch" not in file.text:
            continue
        doc = file.parsed.docs[0]
        for key in PATCH_KEYS:
            for i, item in enumerate(y.iter_items(y.get(doc, key))):
                node, path = (item, (key, i)) if key == "patchesStrategicMerge" else \
                    (y.get(item, "patch"), (key, i, "patch"))
                if node is None or y.node_kind(node) != "scalar" or "\n" not in (node.value or ""):
                    continue
                target = y.get(item, "target") if key != "patchesStrategicMerge" else None
                selector = {str(k.value): y.scalar(v) or "" for k, v in target.value} \
                    if target is not None and y.node_kind(target) == "mapping" else {}
                where = f"{file.rel} {key}[{i}] (line {y.line_of(node)})"
                try:
                    tree.inline.append(_read(file, node, path, key, selector))
                except _NotExact as exc:
                    tree.inline_refused.append((f"{where}: {exc}", node.value))


class _NotExact(Exception):
    """An inline patch whose block the receiver cannot map back exactly."""


def _read(file: SourceFile, node: y.Node, path: tuple[y.PathKey, ...], key: str,
          selector: dict[str, str]) -> InlinePatch:
    text = file.text
    header = HEADER.match(text, y.properties_end(text, node))
    if node.style != "|" or header is None:
        raise _NotExact("the patch is not a literal block (|, |- or |+ without an indentation "
                        "indicator)")
    starts: list[int] = []
    outer_starts: list[int] = []
    removed: list[int] = []
    pieces: list[str] = []
    indent = 0
    region_end = position = header.end()
    while position < len(text):
        eol = text.find("\n", position)
        line_end = len(text) if eol < 0 else eol + 1
        raw = text[position:line_end].rstrip("\r\n")
        if raw.strip(" ") == "" and (indent == 0 or len(raw) < indent):
            width = len(raw)  # a blank line
        else:
            lead = len(raw) - len(raw.lstrip(" "))
            if indent == 0:
                indent = lead
            if lead < indent or indent == 0:
                break  # the block ended
            width = indent
            region_end = line_end
        starts.append(sum(len(p) for p in pieces))
        outer_starts.append(position)
        removed.append(width)
        pieces.append(text[position + width:line_end])
        position = line_end
    while starts and outer_starts[-1] >= region_end:  # trailing blank lines stay the block's
        starts.pop(), outer_starts.pop(), removed.pop(), pieces.pop()
    inner = "".join(pieces)
    value = node.value or ""
    if indent == 0 or inner.replace("\r\n", "\n").rstrip("\n") != value.rstrip("\n"):
        raise _NotExact("its text does not read back as the block's value")
    rel = f"{file.rel}#{key}[{path[1]}]"
    try:
        parsed = y.parse(inner, rel)
    except ManifestError as exc:
        raise _NotExact(f"the patch does not parse ({exc.message})") from None
    role = "json6902" if key == "patchesJson6902" or (
        parsed.docs and y.node_kind(parsed.docs[0]) == "sequence") else "patch"
    return InlinePatch(rel, file.path, inner, parsed, role, file.inside, selector, file.bom,
                       outer=file, node_path=path, indent=indent, starts=starts,
                       outer_starts=outer_starts, removed=removed, region_end=region_end,
                       trailing=value[len(value.rstrip("\n")):])


def fold(tree: Tree, edits: list[tuple[str, y.Edit, y.Intent]]) -> tuple[
        dict[str, list[y.Edit]], dict[str, list[y.Intent]]]:
    """The edits and intents by file of the repository: an inline patch's edits become edits of
    its kustomization, proven first as edits of the patch's own text (``ManifestError`` if that
    does not hold), and its intents one ``set`` of the block's value."""
    inline = {p.rel: p for p in tree.inline if isinstance(p, InlinePatch)}
    by_file: dict[str, list[y.Edit]] = {}
    intents: dict[str, list[y.Intent]] = {}
    mine: dict[str, list[tuple[y.Edit, y.Intent]]] = {}
    for rel, edit, intent in edits:
        if rel in inline:
            mine.setdefault(rel, []).append((edit, intent))
        else:
            by_file.setdefault(rel, []).append(edit)
            intents.setdefault(rel, []).append(intent)
    for rel, items in mine.items():
        patch = inline[rel]
        new_text = y.apply_edits(patch.text, [e for e, _ in items], rel)
        y.verify(patch.parsed, new_text, [i for _, i in items])
        outer = patch.kustomization.rel
        # first: an edit of the kustomization at the block's end (a key added after it) comes
        # after the block's own new last lines (apply_edits keeps this order for one offset)
        by_file[outer] = [patch.outer_edit(e) for e, _ in items] + by_file.get(outer, [])
        intents.setdefault(outer, []).append(
            y.Intent("set", 0, patch.node_path, patch.value_of(new_text)))
    return by_file, intents
