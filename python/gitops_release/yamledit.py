"""Exact YAML edits: ruamel.yaml composes the documents (with the position of every node), and an
edit replaces exactly the characters of the scalars it changes, or inserts whole lines.

Everything else in the file — comments, key order, quoting, indentation, blank lines, document
markers — stays byte for byte what it was, so a deploy's diff is the lines holding new values.
Files are refused before any edit when they are too big, use many aliases (a "billion laughs"
bomb), have duplicate keys, or are not YAML; the error names the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_release.errors import ManifestError

MAX_FILE_BYTES = 1024 * 1024
MAX_ALIASES = 20  # bounds what a consumer expanding aliases could face (~e^(20/e) nodes)
MAX_NODES = 100_000
SAFE_PLAIN_RE = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./:@+-]*", re.ASCII)
NON_STRING_PLAIN_RE = re.compile(
    r"(?:[-+]?[0-9][0-9_.:eE+-]*|0x[0-9a-fA-F_]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|"
    r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
    r"null|Null|NULL|~)",
    re.ASCII,
)

Node = Any  # ruamel.yaml.nodes.Node: imported lazily, so typed loosely here


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (in any order)."""
    out = text
    last = len(text) + 1
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        if edit.end > last:
            raise ManifestError("internal error: overlapping edits")
        out = out[: edit.start] + edit.new + out[edit.end :]
        last = edit.start
    return out


def compose(text: str, filename: str) -> list[Node]:
    """The documents of ``text`` as ruamel.yaml node trees, after the safety checks."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ManifestError(f"{filename} is larger than {MAX_FILE_BYTES} bytes",
                            hint="Split it; a manifest this size is not something to edit blindly")
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    try:
        aliases = sum(1 for event in yaml.parse(text) if type(event).__name__ == "AliasEvent")
        if aliases > MAX_ALIASES:
            raise ManifestError(f"{filename} uses {aliases} YAML aliases, more than {MAX_ALIASES}",
                                hint="The receiver refuses alias-heavy files (a YAML bomb guard)")
        documents = [doc for doc in YAML(typ="rt").compose_all(text) if doc is not None]
    except YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{filename} is not valid YAML{where}: {problem}",
                            hint="Fix the file in the config repo") from None
    for document in documents:
        _check_tree(document, filename)
    return documents


def _check_tree(root: Node, filename: str) -> None:
    """Refuse duplicate mapping keys; count nodes (each node once, aliases are not expanded)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            raise ManifestError(f"{filename} has more than {MAX_NODES} YAML nodes")
        kind = node_kind(node)
        if kind == "mapping":
            keys: set[str] = set()
            for key, value in node.value:
                if node_kind(key) == "scalar":
                    if key.value in keys:
                        raise ManifestError(
                            f"{filename} has the key {key.value!r} twice in one mapping "
                            f"(line {key.start_mark.line + 1})",
                            hint="Remove the duplicate: YAML readers disagree on which one wins")
                    keys.add(key.value)
                stack.extend((key, value))
        elif kind == "sequence":
            stack.extend(node.value)


def node_kind(node: Node) -> str:
    """'mapping', 'sequence' or 'scalar'."""
    name = type(node).__name__
    return {"MappingNode": "mapping", "SequenceNode": "sequence"}.get(name, "scalar")


def check_plain_node(node: Node, filename: str, what: str) -> None:
    """Refuse to edit through anchored nodes: an edit there would change every alias too."""
    if getattr(node, "anchor", None):
        raise ManifestError(f"{filename}: {what} (line {node.start_mark.line + 1}) carries a YAML "
                            "anchor, so editing it would change other places too",
                            hint="Write the value out instead of using an anchor/alias")


def get(node: Node, key: str) -> Node | None:
    """The value under ``key`` of a mapping node, else None."""
    if node is None or node_kind(node) != "mapping":
        return None
    for key_node, value in node.value:
        if node_kind(key_node) == "scalar" and key_node.value == key:
            return value
    return None


def get_key(node: Node, key: str) -> Node | None:
    """The key node of ``key`` in a mapping node, else None."""
    if node is None or node_kind(node) != "mapping":
        return None
    return next((k for k, _ in node.value if node_kind(k) == "scalar" and k.value == key), None)


def get_path(node: Node, dotted: Sequence[str]) -> Node | None:
    for key in dotted:
        node = get(node, key)
        if node is None:
            return None
    return node


def scalar(node: Node | None) -> str | None:
    """The text of a scalar node (None for anything else)."""
    if node is None or node_kind(node) != "scalar":
        return None
    return str(node.value)


def format_scalar(value: str, style: str | None) -> str:
    """``value`` as YAML text, in the node's quoting style when it has one; plain when plain is
    safe (it reads back as the same string), else double-quoted."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style is None and SAFE_PLAIN_RE.fullmatch(value) and not NON_STRING_PLAIN_RE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def replace_scalar(node: Node, value: str, filename: str, what: str,
                   key: Node | None = None) -> Edit | None:
    """The edit that sets a scalar node to ``value`` (None when it already holds it). An empty
    value (``key:`` with nothing after it) is filled in right after the key's colon."""
    if node_kind(node) != "scalar":
        raise ManifestError(f"{filename}: {what} (line {node.start_mark.line + 1}) is not a "
                            "plain value")
    check_plain_node(node, filename, what)
    style = getattr(node, "style", None)
    if style in ("|", ">") or node.start_mark.line != node.end_mark.line:
        raise ManifestError(f"{filename}: {what} (line {node.start_mark.line + 1}) spans several "
                            "lines", hint="Write it on one line")
    if str(node.value) == value and node.start_mark.index != node.end_mark.index:
        return None
    if node.start_mark.index == node.end_mark.index:
        if key is None:
            raise ManifestError(f"{filename}: {what} (line {node.start_mark.line + 1}) is empty",
                                hint="Write a value there")
        colon = key.end_mark.index + 1
        return Edit(colon, colon, " " + format_scalar(value, None))
    return Edit(node.start_mark.index, node.end_mark.index, format_scalar(value, style))


def _last_scalar(node: Node) -> Node:
    while node_kind(node) != "scalar" and node.value:
        last = node.value[-1]
        node = last[1] if node_kind(node) == "mapping" else last
    return node


def line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def end_of_node_line(text: str, node: Node) -> int:
    """The index just after the newline ending the last line that holds ``node``'s content."""
    last = _last_scalar(node)
    index = last.end_mark.index
    if last.end_mark.column == 0 and index > 0:
        index -= 1  # a block scalar ends at the start of the next line
    while index > 0 and text[index - 1] == "\n" and text[:index - 1].endswith("\n"):
        index -= 1  # kept trailing blank lines belong after the insertion
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def key_column(mapping: Node) -> int:
    """The column of a block mapping's keys."""
    return int(mapping.value[0][0].start_mark.column)


def dash_column(text: str, item: Node) -> int | None:
    """The column of the ``-`` introducing a block sequence item, None when not found."""
    start = item.start_mark.index
    index = start - 1
    while index >= 0 and text[index] == " ":
        index -= 1
    if index >= 0 and text[index] == "-":
        return int(index - line_start(text, index))
    return None


def is_flow(node: Node) -> bool:
    return bool(getattr(node, "flow_style", False))


def iter_items(node: Node | None) -> Iterator[Node]:
    if node is not None and node_kind(node) == "sequence":
        yield from node.value


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"
