"""Exact YAML edits, proven by re-parsing.

ruamel.yaml's C parser composes the documents (every node with its position); an edit replaces
exactly the characters of the scalars it changes, or inserts text at positions the parser gave:
the end of a flow collection, of a block scalar (with its kept newlines), of a mapping's last
entry. Everything else in the file (comments, key order, quoting, tags, indentation, blank lines,
document markers, line ends) stays byte for byte what it was.

Every edited text is parsed again and compared node by node with the intended result
(:func:`verify`): only the target scalars may differ (their tags kept), only the intended keys and
items may be new. Anything this module cannot do exactly is a :class:`ManifestError` naming the
construct, the file and the line; nothing is written by this module.

Limits keep a hostile or huge file cheap to refuse: size, documents per file, nesting depth and
alias uses are capped, each refused with a message naming the file.
"""

from __future__ import annotations

import functools
import gc
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gitops_release.errors import ManifestError

MAX_FILE_BYTES = 1024 * 1024
MAX_DOCUMENTS = 10_000
MAX_DEPTH = 100
MAX_ALIASES = 20  # bounds what a consumer expanding aliases could face (~e^(20/e) nodes)
MAX_NODES = 200_000
SAFE_PLAIN_RE = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./:@+-]*", re.ASCII)
BOOL_NULL_RE = re.compile(
    r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
    r"null|Null|NULL|~|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)", re.ASCII)
INT_RE = re.compile(r"[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?::[0-5]?[0-9])*)",
                    re.ASCII)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?", re.ASCII)
PROPERTIES_RE = re.compile(r"(?:(?:!<[^>\s]*>|[!&][^\s,\[\]{}]*)\s+)+")  # tags, anchors
STR_TAG = "tag:yaml.org,2002:str"

Node = Any  # ruamel.yaml.nodes.Node: imported lazily, so typed loosely here
PathKey = str | int


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str


@dataclass(frozen=True)
class Intent:
    """What an edit means: ``set`` the scalar at ``path``, ``add`` the key that ``path`` ends with
    (value: str, list or dict), ``append`` ``value`` to the sequence at ``path``, or ``put`` the
    collection ``value`` where ``path`` holds an empty value."""

    op: str
    doc: int
    path: tuple[PathKey, ...]
    value: object


def apply_edits(text: str, edits: Sequence[Edit], filename: str = "the file") -> str:
    """Apply non-overlapping edits (in any order); two edits of one span are refused."""
    out: list[str] = []
    position = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < position:
            raise ManifestError(f"{filename}: two changes of this deploy fall on the same place "
                                f"(offset {edit.start}); nothing was written",
                                hint="Target one field per value (check 'container'/'workload')")
        out.append(text[position:edit.start])
        out.append(edit.new)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


# -- parsing ---------------------------------------------------------------------------------

class _TooDeep(Exception):
    """Composing reached MAX_DEPTH nested nodes (``line``: where a collection went deeper)."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__(line)
        self.line = line


def _shallow(text: str) -> bool:
    """Whether a cheap upper bound of the nesting depth, the flow brackets plus the deepest line
    prefix plus one, is within MAX_DEPTH (then the C composer may recurse unguarded)."""
    flow = text.count("[") + text.count("{")
    if flow + 1 > MAX_DEPTH:
        return False
    return _prefix_of(MAX_DEPTH - flow).search("\n" + text) is None


@functools.lru_cache(maxsize=MAX_DEPTH + 1)
def _prefix_of(length: int) -> re.Pattern[str]:
    """A line whose prefix of indentation and block indicators is ``length`` long or longer."""
    return re.compile(r"\n[ \t?:-]{" + str(length) + "}")


def _deepest_line(text: str) -> int | None:
    """The line where a collection nests deeper than MAX_DEPTH (libyaml's events), else None."""
    from ruamel.yaml import YAML

    depth = 0
    for event in YAML(typ="safe", pure=False).parse(text):
        name = type(event).__name__
        if name in ("MappingStartEvent", "SequenceStartEvent"):
            depth += 1
            if depth > MAX_DEPTH:
                return int(event.start_mark.line) + 1
        elif name in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1
    return None


def _yaml_error(exc: Exception, filename: str) -> ManifestError:
    where = ""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        where = f" at line {mark.line + 1}, column {mark.column + 1}"
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ManifestError(f"{filename} is not valid YAML{where}: {problem}",
                         hint="Fix the file in the config repo")


_LOADERS: list[Any] = []  # the composer without and with a depth guard
_EMPTY_TAG: list[Any] = [object()]  # the tag object of every node without an explicit tag


def _c_loaders() -> list[Any]:
    """ruamel.yaml.clib's composer, resolving no implicit tag: every node without an explicit tag
    shares one empty tag object (a node would otherwise make a tag object of its own, and its
    ``tag`` would decode it on every read), and the resolver hooks are static no-ops; the guarded
    one counts the nesting in those hooks and stops at MAX_DEPTH (the C composer recurses)."""
    if not _LOADERS:
        from _ruamel_yaml import CParser  # type: ignore[import-not-found]  # no stubs
        from ruamel.yaml.tag import Tag

        empty = _EMPTY_TAG[0] = Tag(suffix="")

        class Loader(CParser):  # type: ignore[misc]  # CParser is untyped
            # implicit: no tag; an explicit tag is kept as the node's tag
            resolve = staticmethod(lambda kind, value, implicit: empty)
            descend_resolver = staticmethod(lambda parent, index: None)
            ascend_resolver = staticmethod(lambda: None)

        class Guarded(Loader):
            depth = 0

            def descend_resolver(self, parent: object, index: object) -> None:
                self.depth += 1
                if self.depth > MAX_DEPTH:
                    raise _TooDeep

            def ascend_resolver(self) -> None:
                self.depth -= 1

        _LOADERS[:] = [Loader, Guarded]
    return _LOADERS


def compose_all(text: str, max_depth: bool = False) -> list[Node]:
    """Compose every document with libyaml (ruamel.yaml.clib), without resolving implicit tags:
    the receiver reads scalars as the text they are, and this is where planning spends its time.
    Falls back to ruamel.yaml's pure-Python composer where the C extension is missing.
    ``max_depth``: raise _TooDeep where nodes nest MAX_DEPTH deep (scalars count as a level)."""
    try:
        loader_class = _c_loaders()[1 if max_depth else 0]
    except ImportError:  # pragma: no cover - the wheels ship it for every platform we run on
        return compose_events(text, max_depth)
    from ruamel.yaml.error import YAMLError

    loader = loader_class(text)
    docs: list[Node] = []
    try:
        while loader.check_node():
            docs.append(loader.get_node())
            if len(docs) > MAX_DOCUMENTS:
                break
    except YAMLError:
        # libyaml reads YAML 1.1; a 1.2 construct it refuses (a plain 'a:b' in a flow
        # collection) is read by ruamel.yaml's own parser, as Kubernetes tools would.
        return compose_events(text, max_depth)
    finally:
        loader.dispose()
    return docs


def compose_events(text: str, max_depth: bool = False) -> list[Node]:
    """Compose the documents from ruamel.yaml's pure-Python (YAML 1.2) event stream, without
    resolving implicit tags (as :func:`compose_all`), iteratively; ``max_depth``: raise _TooDeep
    where collections nest deeper than MAX_DEPTH."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    docs: list[Node] = []
    stack: list[Any] = []
    anchors: dict[str, Node] = {}

    def add(node: Node) -> None:
        if not stack:
            docs.append(node)
            return
        parent = stack[-1]
        if parent[0] == "m":
            if parent[2] is None:
                parent[2] = node
            else:
                parent[1].value.append((parent[2], node))
                parent[2] = None
        else:
            parent[1].value.append(node)

    for event in YAML(typ="safe", pure=True).parse(text):
        name = type(event).__name__
        anchor = getattr(event, "anchor", None)
        node: Any
        if name == "ScalarEvent":
            node = ScalarNode(event.tag or "" if not event.implicit[0] else "", event.value,
                              event.start_mark, event.end_mark, style=event.style or "")
        elif name in ("MappingStartEvent", "SequenceStartEvent"):
            kind = MappingNode if name == "MappingStartEvent" else SequenceNode
            node = kind("" if event.implicit else event.tag or "", [], event.start_mark,
                        event.end_mark, flow_style=event.flow_style)
            if anchor:
                anchors[anchor] = node
            add(node)
            stack.append(["m" if kind is MappingNode else "q", node, None])
            if max_depth and len(stack) > MAX_DEPTH:
                raise _TooDeep(int(event.start_mark.line) + 1)
            continue
        elif name in ("MappingEndEvent", "SequenceEndEvent"):
            stack.pop()[1].end_mark = event.end_mark
            continue
        elif name == "AliasEvent":
            node = anchors[str(anchor)]
        else:
            continue
        if anchor and name == "ScalarEvent":
            anchors[anchor] = node
        add(node)
    return docs


@dataclass
class Parsed:
    """A file's documents, and which nodes are reached more than once (through an alias)."""

    text: str
    filename: str
    docs: list[Node]
    shared: set[int]


_CACHE: dict[tuple[str, str], Parsed] = {}
CACHE_ENTRIES = 8
CACHE_CHARS = 512 * 1024  # a parse holds a few Python objects per node: keep few large ones


def parse(text: str, filename: str) -> Parsed:
    """The documents of ``text`` after the safety checks (size, depth, documents, aliases,
    duplicate keys). The last few results are kept (at most CACHE_ENTRIES, CACHE_CHARS of text
    beside the newest): a planned text is parsed for the proof and for the render, once."""
    key = (filename, text)
    parsed = _CACHE.pop(key, None)
    if parsed is None:
        parsed = _parse(text, filename)
    _CACHE[key] = parsed  # the newest last
    held = sum(len(t) for _, t in _CACHE)
    while len(_CACHE) > 1 and (len(_CACHE) > CACHE_ENTRIES or held > CACHE_CHARS + len(text)):
        oldest = next(iter(_CACHE))
        held -= len(oldest[1])
        del _CACHE[oldest]
    return parsed


def _parse(text: str, filename: str) -> Parsed:
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ManifestError(f"{filename} is larger than {MAX_FILE_BYTES} bytes",
                            hint="Split it; a manifest this size is not something to edit blindly")
    from ruamel.yaml.error import YAMLError

    try:
        try:  # the cheap bound, else the nesting counted while composing
            composed = compose_all(text, max_depth=not _shallow(text))
        except _TooDeep as exc:
            line = exc.line or _deepest_line(text)
            if line is not None:
                raise ManifestError(f"{filename} nests collections deeper than {MAX_DEPTH} "
                                    f"levels (line {line})",
                                    hint="Flatten the file; no Kubernetes manifest needs this") from None
            composed = compose_all(text)  # only its scalars are MAX_DEPTH deep
        docs = [doc for doc in composed if doc is not None]
        if len(docs) > MAX_DOCUMENTS:
            raise ManifestError(f"{filename} holds more than {MAX_DOCUMENTS} documents",
                                hint="Split the file")
    except YAMLError as exc:
        raise _yaml_error(exc, filename) from None
    except RecursionError:
        raise ManifestError(f"{filename} nests collections too deeply",
                            hint="Flatten the file") from None
    shared: set[int] = set()
    for doc in docs:
        shared |= _check_tree(doc, filename)
    return Parsed(text, filename, docs, shared)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many files are planned. A composed document
    is several collector-tracked objects per node, alive while its overlay is planned: the
    collector would traverse the whole heap again after every few thousand of them (half the time
    of planning a fan-out of large files). The trees hold no reference cycles and are freed by
    reference counting when their overlay is done; the collector resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compose(text: str, filename: str) -> list[Node]:
    """The documents of a file of ours (the policy file): every key at most once per mapping,
    also twice with the same value, which a config repo's manifests may hold."""
    docs = parse(text, filename).docs
    stack = [doc for doc in docs if doc is not None]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.id == "mapping":
            _duplicate_key(node.value, filename, strict=True)
            stack += [part for item in node.value for part in item]
        elif node.id == "sequence":
            stack += node.value
    return docs


def _check_tree(root: Node, filename: str) -> set[int]:
    """Refuse duplicate mapping keys and alias-heavy trees; return the ids of shared nodes."""
    seen: set[int] = set()
    shared: set[int] = set()
    uses = 0
    stack = [root]
    pop, push, extend, see = stack.pop, stack.append, stack.extend, seen.add
    while stack:
        node = pop()
        if id(node) in seen:
            shared.add(id(node))
            uses += 1
            if uses > MAX_ALIASES:
                raise ManifestError(f"{filename} uses more than {MAX_ALIASES} YAML aliases",
                                    hint="The receiver refuses alias-heavy files (a YAML bomb guard)")
            continue
        see(id(node))
        if len(seen) > MAX_NODES:
            raise ManifestError(f"{filename} has more than {MAX_NODES} YAML nodes",
                                hint="Split the file")
        kind = node.id
        if kind == "mapping":
            items = node.value
            keys = {key.value for key, _ in items if key.id == "scalar"}
            if len(keys) != len(items) and len(keys) != sum(k.id == "scalar" for k, _ in items):
                _duplicate_key(items, filename)
            for key, value in items:
                push(key)
                push(value)
        elif kind == "sequence":
            extend(node.value)
    return _descendants(root, shared) if shared else shared


def _duplicate_key(items: list[tuple[Node, Node]], filename: str, strict: bool = False) -> None:
    """Refuse a key given twice with different values (``strict``: at all): YAML readers
    disagree on which one wins. Twice the same value (``ingresses: []`` twice) reads the same
    everywhere; an edit that changes one copy makes them differ, and the edited file's proof
    refuses it then."""
    keys: dict[str, Node] = {}
    for key, value in items:
        if node_kind(key) == "scalar":
            if key.value in keys and (strict or not _same_node(keys[key.value], value)):
                raise ManifestError(
                    f"{filename} has the key {key.value!r} twice in one mapping "
                    f"(line {key.start_mark.line + 1})" + ("" if strict else
                                                           " with different values"),
                    hint="Remove the duplicate: YAML readers disagree on which one wins")
            keys.setdefault(key.value, value)


def _same_node(a: Node, b: Node) -> bool:
    """Whether two nodes hold the same data (kinds, tags and scalar values)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x.id != y.id or x.tag != y.tag:
            return False
        if x.id == "scalar":
            if x.value != y.value:
                return False
        elif x.id in ("mapping", "sequence"):
            if len(x.value) != len(y.value):
                return False
            if x.id == "mapping":
                stack += [(kx, ky) for (kx, _), (ky, _) in zip(x.value, y.value, strict=True)]
                stack += [(vx, vy) for (_, vx), (_, vy) in zip(x.value, y.value, strict=True)]
            else:
                stack += list(zip(x.value, y.value, strict=True))
    return True


def _descendants(root: Node, shared: set[int]) -> set[int]:
    """Every node inside a shared subtree is shared too."""
    out: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    visited: set[int] = set()
    while stack:
        node, inside = stack.pop()
        inside = inside or id(node) in shared
        if inside:
            out.add(id(node))
        if (id(node), inside) in visited:  # type: ignore[comparison-overlap]
            continue
        visited.add((id(node), inside))  # type: ignore[arg-type]
        for child in children(node):
            stack.append((child, inside))
    return out


# -- navigation ------------------------------------------------------------------------------

def node_kind(node: Node) -> str:
    """'mapping', 'sequence' or 'scalar' ('' for no node)."""
    return "" if node is None else str(node.id)


def children(node: Node) -> Iterator[Node]:
    kind = node_kind(node)
    if kind == "mapping":
        for key, value in node.value:
            yield key
            yield value
    elif kind == "sequence":
        yield from node.value


def get(node: Node, key: str) -> Node | None:
    """The value under ``key`` of a mapping node, else None."""
    if node is None or node.id != "mapping":
        return None
    for key_node, value in node.value:
        if key_node.value == key and key_node.id == "scalar":
            return value
    return None


def get_key(node: Node, key: str) -> Node | None:
    if node is None or node_kind(node) != "mapping":
        return None
    return next((k for k, _ in node.value if node_kind(k) == "scalar" and k.value == key), None)


def get_path(node: Node, path: Sequence[PathKey]) -> Node | None:
    for key in path:
        if isinstance(key, int):
            items = list(iter_items(node))
            node = items[key] if 0 <= key < len(items) else None
        else:
            node = get(node, key)
        if node is None:
            return None
    return node


def scalar(node: Node | None) -> str | None:
    """The text of a scalar node (None for anything else)."""
    if node is None or node_kind(node) != "scalar":
        return None
    return str(node.value)


def iter_items(node: Node | None) -> Iterator[Node]:
    if node is not None and node_kind(node) == "sequence":
        yield from node.value


def is_flow(node: Node) -> bool:
    return bool(getattr(node, "flow_style", False))


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def lines_of(parsed: Parsed) -> str:
    """The line ending lines added to ``parsed`` take; a file whose lines end in CR alone (old
    Mac OS) is refused: where a line starts cannot be told as YAML readers tell it."""
    text = parsed.text
    if "\r" in text and text.count("\r") > text.count("\r\n"):
        raise ManifestError(f"{parsed.filename}: lines end in CR alone (old Mac OS line endings); "
                            "a deploy adds lines to it and cannot place them",
                            hint="Convert the file to LF (or CR LF) line endings")
    return newline_of(text)


def newline_of(text: str) -> str:
    """The file's line ending: CR LF when most of its lines end so (one stray CR LF line in an
    LF file does not make the lines a deploy adds CR LF)."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


# -- scalars ---------------------------------------------------------------------------------

def resolves_to_string(value: str) -> bool:
    """Whether ``value`` written plain reads back as a string in YAML 1.1 and 1.2 readers alike
    (Helm and kubectl read YAML 1.1 rules in places: ``1.10`` is a float, ``on`` a bool)."""
    if value == "" or BOOL_NULL_RE.fullmatch(value) or INT_RE.fullmatch(value):
        return False
    if DATE_RE.fullmatch(value):
        return False
    try:
        float(value.replace("_", ""))
    except ValueError:
        return True
    return False


def format_scalar(value: str, style: str | None, tagged_str: bool = False,
                  flow: bool = False) -> str:
    """``value`` as YAML text, in the node's quoting style when it has one; plain when plain reads
    back as the same string (in a flow collection: without ':'); else double-quoted."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style in (None, "") and SAFE_PLAIN_RE.fullmatch(value) and (
            tagged_str or resolves_to_string(value)) and not (flow and ":" in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def properties_end(text: str, node: Node) -> int:
    """Where a node's content starts, after its tag and anchor properties."""
    start = int(node.start_mark.index)
    match = PROPERTIES_RE.match(text, start)
    return match.end() if match else start


def has_anchor(text: str, node: Node) -> bool:
    start = int(node.start_mark.index)
    match = PROPERTIES_RE.match(text, start)
    return bool(match and "&" in match.group(0))


def explicit_tag(text: str, node: Node) -> str:
    start = int(node.start_mark.index)
    match = PROPERTIES_RE.match(text, start)
    if not match:
        return ""
    return next((p for p in match.group(0).split() if p.startswith("!")), "")


def plain_value(parsed: Parsed, node: Node) -> str | None:
    """The string a YAML reader gets from a scalar: None when a plain scalar would read as
    another type (``1.10``, ``true``, ``6``), so that it never counts as equal to a string."""
    value = scalar(node)
    if value is None:
        return None
    style = getattr(node, "style", None)
    if style in (None, "") and not explicit_tag(parsed.text, node) and not resolves_to_string(value):
        return None
    return value


def check_editable(parsed: Parsed, node: Node, what: str) -> None:
    """Refuse to edit through anchors and aliases: the change would reach other places too."""
    if id(node) in parsed.shared or has_anchor(parsed.text, node):
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(node)}) is an anchor or "
                            "is reached through an alias, so editing it would change other "
                            "places too", hint="Write the value out instead of using an anchor/alias")


def set_scalar(parsed: Parsed, node: Node, value: str, what: str,
               parent: Node | None = None) -> Edit | None:
    """The edit that sets a scalar node to ``value`` (None when it already reads as ``value``).
    The node's tag, anchor-free properties and quoting are kept; an empty value is written after
    its key's colon."""
    text = parsed.text
    if node_kind(node) != "scalar":
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(node)}) is a "
                            f"{node_kind(node)}, not a single value")
    check_editable(parsed, node, what)
    style = getattr(node, "style", None)
    if style in ("|", ">") or node.start_mark.line != node.end_mark.line:
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(node)}) spans several "
                            "lines", hint="Write it on one line")
    if plain_value(parsed, node) == value and node.start_mark.index != node.end_mark.index:
        return None
    tag = explicit_tag(text, node)
    start, end = properties_end(text, node), int(node.end_mark.index)
    if start > end:
        start = end
    new = format_scalar(value, style, tagged_str=tag in ("!!str", "!<tag:yaml.org,2002:str>"),
                        flow=parent is not None and is_flow(parent))
    if start == end and not tag:
        before_value = text[:start].rstrip(" \t")
        if before_value.endswith(":") and before_value != text[:start]:
            return Edit(start, end, new)  # 'key: ' with the space already there
        if text[start - 1:start] != ":":
            raise ManifestError(f"{parsed.filename}: {what} (line {line_of(node)}) is a key "
                                "without a value or ':' (an explicit '? key', or '{name: x, "
                                "value}' in flow style)", hint="Write it as 'key: value'")
        return Edit(start, end, " " + new)
    if start == end:
        new = " " + new if not text[start - 1:start].isspace() else new
    return Edit(start, end, new)


# -- insertions ------------------------------------------------------------------------------

def _last_leaf(parsed: Parsed, node: Node) -> Node:
    """The node whose end is the end of ``node``'s text: descend block collections only."""
    while node_kind(node) != "scalar" and not is_flow(node) and node.value:
        if id(node) in parsed.shared:
            break
        last = node.value[-1]
        node = last[1] if node_kind(node) == "mapping" else last
    if id(node) in parsed.shared and node_kind(node) != "scalar":
        raise ManifestError(f"{parsed.filename}: the collection at line {line_of(node)} ends with "
                            "an alias, so there is no exact place to add to it",
                            hint="Write the value out instead of using an alias")
    return node


def line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def key_column(mapping: Node) -> int:
    """The column of a block mapping's keys."""
    return int(mapping.value[0][0].start_mark.column)


def end_of_node_line(text: str, node: Node) -> int:
    """Where a new line may start after ``node`` (see :func:`end_of_entry`), for a text whose
    aliases the caller has ruled out."""
    return end_of_entry(Parsed(text, "", [], set()), node)


def end_of_entry(parsed: Parsed, node: Node) -> int:
    """The index where a new line may start after ``node`` (a block collection's last entry)."""
    text = parsed.text
    leaf = _last_leaf(parsed, node)
    index = int(leaf.end_mark.index)
    if getattr(leaf, "style", None) in ("|", ">") and index > 0 and text[index - 1] == "\n":
        return index  # a block scalar ends at the start of the line after it
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _block_lines(value: object, indent: int, nl: str, dash_offset: int = 2) -> list[str]:
    """``value`` (str, list of dicts, dict) as block YAML lines at ``indent``; a list under a
    key has its ``-`` ``dash_offset`` columns right of the key (2, or 0: ``key:\n- item``)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines: list[str] = []
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                lines.append(f"{pad}{key}:{nl}")
                offset = dash_offset if isinstance(item, list) else 2
                lines += _block_lines(item, indent + offset, nl, dash_offset)
            else:
                lines.append(f"{pad}{key}: {format_scalar(str(item), None)}{nl}")
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            inner = _block_lines(item, indent + 2, nl, dash_offset)
            inner[0] = pad + "- " + inner[0][indent + 2:]
            lines += inner
        return lines
    return [f"{pad}{format_scalar(str(value), None)}{nl}"]


def _json_like(node: Node) -> bool:
    """Whether a flow collection is written as JSON (its keys, or its first item's, quoted
    with double quotes): what is added to it is written so too, and a JSON file stays JSON."""
    first = node.value[0] if node.value else None
    if node.id == "sequence" and first is not None:
        return getattr(first, "style", None) == '"' or (
            first.id == "mapping" and _json_like(first))
    return first is not None and node.id == "mapping" and getattr(first[0], "style", None) == '"'


def _flow_text(value: object, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow_text(v) for v in value) + "]"
    return format_scalar(str(value), None, flow=True)


def _check_container(parsed: Parsed, node: Node, what: str) -> None:
    if id(node) in parsed.shared or has_anchor(parsed.text, node):
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(node)}) is an anchor or "
                            "reached through an alias, so adding to it would change other places",
                            hint="Write it out instead of using an anchor/alias")


def _unterminated(parsed: Parsed, node: Node, at: int) -> bool:
    """Whether ``at`` is the end of a text without a final line break (what is added there
    starts with one). Refused when ``node`` ends in a block scalar that keeps its final line
    break (``|``, ``|+``, ``>``): the added line break would join that block's value."""
    text = parsed.text
    if at != len(text) or not text or text.endswith("\n"):
        return False
    leaf = _last_leaf(parsed, node)
    header = re.match(r"[|>]([1-9+-]{0,2})", text[properties_end(text, leaf):])
    if getattr(leaf, "style", None) in ("|", ">") and header and "-" not in header.group(1):
        raise ManifestError(f"{parsed.filename} ends without a line break right after the "
                            f"block scalar at line {line_of(leaf)}: a line added after it would "
                            "add a line break to that block's text; nothing was written",
                            hint="End the file with a line break")
    return True


def add_key(parsed: Parsed, mapping: Node, key: str, value: object, what: str) -> Edit:
    """Add ``key: value`` as the last entry of ``mapping`` (block or flow)."""
    text, nl = parsed.text, lines_of(parsed)
    _check_container(parsed, mapping, what)
    if is_flow(mapping):
        close = int(mapping.end_mark.index) - 1
        if text[close:close + 1] != "}":
            raise ManifestError(f"{parsed.filename}: {what} (line {line_of(mapping)}) is a flow "
                                "mapping the receiver cannot extend exactly")
        sep = ", " if mapping.value else ""
        as_json = _json_like(mapping)
        return Edit(close, close,
                    f"{sep}{json.dumps(key) if as_json else key}: {_flow_text(value, as_json)}")
    if not mapping.value:
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(mapping)}) is empty",
                            hint=f"Add {key} to it by hand once")
    column = int(mapping.value[0][0].start_mark.column)
    offset = _dash_offset(text, mapping, parsed.docs)
    last = mapping.value[-1][1]
    # a list whose `-` sits under its key, or a key with nothing after it yet (`components:`
    # and its items commented out): commented-out items `# - x` under the key are its own
    empty = node_kind(last) == "scalar" and last.value == "" and not last.style
    items = offset == 0 and ((node_kind(last) == "sequence" and not is_flow(last)) or empty)
    at = _after_own_comments(text, end_of_entry(parsed, mapping), column, items)
    lines = _block_lines({key: value}, column, nl, offset)
    body = "".join(lines)
    if _unterminated(parsed, mapping, at):
        body = nl + body
    return Edit(at, at, body)


def _after_own_comments(text: str, at: int, column: int, items: bool = False) -> int:
    """``at`` moved past the comment lines right after it that are indented deeper than
    ``column``: they belong to the entry that ends at ``at`` (a commented-out list item, a note
    on its last value); with ``items`` (the entry is a list whose ``-`` sits at ``column``), so
    do commented-out items ``# - x`` at ``column``. A blank line or another comment at
    ``column`` or left of it stays after what is added: a trailing comment block of the mapping
    or of the file."""
    while at < len(text):
        newline = text.find("\n", at)
        end = len(text) if newline < 0 else newline + 1
        line = text[at:end]
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        item = items and indent == column and body[1:].lstrip(" ").startswith("- ")
        if not body.startswith("#") or (indent <= column and not item):
            break
        at = end
    return at


def _dash_offset(text: str, mapping: Node, docs: Sequence[Node] = ()) -> int:
    """How this mapping's block lists sit under their keys: the ``-`` 2 columns right of the
    key (``key:\n  - item``, the default) or under it (``key:\n- item``, as kustomize writes).
    A mapping without a block list of its own follows the first one of ``docs`` (the file)."""
    def offset(node: Node) -> int | None:
        for key, value in node.value:
            if node_kind(value) == "sequence" and not is_flow(value) and value.value:
                dash = dash_column(text, value.value[0])
                if dash is not None:
                    return 0 if dash == int(key.start_mark.column) else 2
        return None

    found = offset(mapping)
    stack = list(reversed(docs))
    seen = 0
    while found is None and stack and seen < 10_000:
        node = stack.pop()
        seen += 1
        if node_kind(node) == "mapping":
            found = offset(node)
            stack += reversed([v for _, v in node.value])
        elif node_kind(node) == "sequence":
            stack += reversed(node.value)
    return 2 if found is None else found


def is_empty(node: Node | None) -> bool:
    """A value written as nothing (``env:``, ``env: # none yet``)."""
    return node is not None and node.id == "scalar" and node.value == "" and not node.style \
        and node.start_mark.index == node.end_mark.index


def put_block(parsed: Parsed, mapping: Node, key: str, value: object, what: str) -> Edit:
    """Give ``key``, whose value is written as nothing, the block collection ``value``: lines
    after the key's line (its comment stays where it is)."""
    text, nl = parsed.text, lines_of(parsed)
    key_node = get_key(mapping, key)
    if key_node is None or not is_empty(get(mapping, key)) or is_flow(mapping):
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(mapping)}) cannot be "
                            "filled in exactly")
    _check_container(parsed, mapping, what)
    newline = text.find("\n", int(key_node.end_mark.index))
    at = len(text) if newline < 0 else newline + 1
    lines = _block_lines(value, int(key_node.start_mark.column) + 2, nl)
    body = "".join(lines)
    if at == len(text) and text and not text.endswith("\n"):
        body = nl + body
    return Edit(at, at, body)


def dash_column(text: str, item: Node) -> int | None:
    """The column of the ``-`` introducing a block sequence item, None when not found."""
    index = int(item.start_mark.index) - 1
    while index >= 0 and text[index] == " ":
        index -= 1
    if index >= 0 and text[index] == "-":
        return index - (text.rfind("\n", 0, index) + 1)
    return None


def append_item(parsed: Parsed, sequence: Node, value: object, what: str) -> Edit:
    """Append ``value`` to ``sequence`` in the style of its last item."""
    text, nl = parsed.text, lines_of(parsed)
    if node_kind(sequence) != "sequence":
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(sequence)}) holds "
                            f"{scalar(sequence) or 'a ' + node_kind(sequence)!r}, not a list, so "
                            "nothing can be added to it; nothing was written",
                            hint="Write it as a list (e.g. '[]') or remove the key")
    _check_container(parsed, sequence, what)
    if is_flow(sequence):
        close = int(sequence.end_mark.index) - 1
        if text[close:close + 1] != "]":
            raise ManifestError(f"{parsed.filename}: {what} (line {line_of(sequence)}) is a flow "
                                "list the receiver cannot extend exactly")
        sep = ", " if sequence.value else ""
        return Edit(close, close, f"{sep}{_flow_text(value, _json_like(sequence))}")
    if not sequence.value:
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(sequence)}) is empty")
    last = sequence.value[-1]
    dash = dash_column(text, last)
    if dash is None:
        raise ManifestError(f"{parsed.filename}: {what} (line {line_of(sequence)}) has items the "
                            "receiver cannot align with")
    key_col = int(last.value[0][0].start_mark.column) if (
        node_kind(last) == "mapping" and last.value and not is_flow(last)) else dash + 2
    lines = _block_lines(value, key_col, nl) if isinstance(value, dict) else \
        [" " * key_col + format_scalar(str(value), None) + nl]
    first = lines[0]
    lines[0] = " " * dash + "-" + " " * (key_col - dash - 1) + first[key_col:]
    at = end_of_entry(parsed, sequence)
    body = "".join(lines)
    if _unterminated(parsed, sequence, at):
        body = nl + body
    return Edit(at, at, body)


# -- the proof -------------------------------------------------------------------------------
# A document is compared as a flat stream of tokens: ("m", n) / ("q", n) open a mapping or list
# of n entries, ("s", tag, style, value) is a scalar. The expected stream is the old document's,
# with each intent applied: a set scalar becomes ("SET", tag, value) (any quoting), an added key
# or item becomes loose tokens ("L", value) (plain tag, any quoting). Runs between those are
# compared as whole slices.

Token = tuple[Any, ...]


def _loose(value: object, out: list[Token]) -> None:
    if isinstance(value, dict):
        out.append(("m", len(value)))
        for key, item in value.items():
            out.append(("L", str(key)))
            _loose(item, out)
    elif isinstance(value, list):
        out.append(("q", len(value)))
        for item in value:
            _loose(item, out)
    else:
        out.append(("L", str(value)))


def _tag(node: Node) -> str:
    return "" if getattr(node, "ctag", None) is _EMPTY_TAG[0] else str(node.tag)


def _flatten(root: Node, intents: dict[int, list[Intent]] | None = None) -> list[Token]:
    out: list[Token] = []
    add = out.append
    stack: list[Any] = [root]
    pop, push, extend = stack.pop, stack.append, stack.extend
    intents = intents or {}
    empty = _EMPTY_TAG[0]
    while stack:
        item = pop()
        if item.__class__ is list:  # loose tokens queued after a collection's own entries
            out.extend(item)
            continue
        kind = item.id
        if intents and id(item) in intents:
            _flatten_intents(item, intents[id(item)], out, stack)
        elif kind == "scalar":
            ctag = getattr(item, "ctag", None)
            add(("s", "" if ctag is empty else item.tag, item.style or "", item.value))
        elif kind == "mapping":
            add(("m", len(item.value)))
            for key, value in reversed(item.value):
                push(value)
                push(key)
        else:
            add(("q", len(item.value)))
            extend(reversed(item.value))
    return out


def _flatten_intents(item: Node, mine: list[Intent], out: list[Token], stack: list[Any]) -> None:
    """The tokens of a node that intents change (its entries are queued on ``stack``)."""
    kind = item.id
    puts = [i for i in mine if i.op == "put"]
    if puts:
        _loose(puts[-1].value, out)
        return
    if kind == "scalar":
        sets = [i for i in mine if i.op == "set"]
        out.append(("SET", _tag(item), str(sets[-1].value)) if sets else
                   ("s", _tag(item), item.style or "", item.value))
        return
    extra: list[Token] = []
    for intent in mine:
        if intent.op == "add":
            _loose(intent.path[-1], extra)
            _loose(intent.value, extra)
        elif intent.op == "append":
            _loose(intent.value, extra)
    added = sum(1 for i in mine if i.op in ("add", "append"))
    if kind == "mapping":
        out.append(("m", len(item.value) + added))
        stack.append(extra)
        for key, value in reversed(item.value):
            stack.extend((value, key))
    else:
        out.append(("q", len(item.value) + added))
        stack.append(extra)
        stack.extend(reversed(item.value))


def _target(doc: Node, intent: Intent) -> Node:
    path = intent.path if intent.op in ("set", "append", "put") else intent.path[:-1]
    node = get_path(doc, path) if path else doc
    if node is None:
        raise ManifestError(f"internal: nothing at {'.'.join(map(str, intent.path))} to edit")
    return node


def _matches(expected: list[Token], actual: list[Token]) -> bool:
    if len(expected) != len(actual):
        return False
    start = 0
    for index, token in enumerate(expected):
        if token[0] not in ("SET", "L"):
            continue
        if expected[start:index] != actual[start:index]:
            return False
        got = actual[index]
        if got[0] != "s" or got[3] != token[-1] or got[1] != (token[1] if token[0] == "SET" else ""):
            return False
        start = index + 1
    return expected[start:] == actual[start:]


def verify(before: Parsed, new_text: str, intents: Sequence[Intent]) -> Parsed:
    """Parse ``new_text`` and check it is ``before`` with exactly ``intents`` applied."""
    try:
        after = parse(new_text, before.filename)
    except ManifestError as exc:
        raise ManifestError(f"the planned edit of {before.filename} does not parse "
                            f"({exc.message}); nothing was written",
                            hint="A construct in this file is not supported for editing; "
                            "edit this value by hand once") from None
    if len(after.docs) != len(before.docs):
        raise ManifestError(f"the planned edit of {before.filename} changes the number of "
                            "documents; nothing was written")
    for index, doc in enumerate(before.docs):
        mine = [intent for intent in intents if intent.doc == index]
        new_doc = after.docs[index]
        if not mine and before.text[doc.start_mark.index:doc.end_mark.index] == \
                after.text[new_doc.start_mark.index:new_doc.end_mark.index]:
            continue  # the same text composes to the same document
        by_node: dict[int, list[Intent]] = {}
        for intent in mine:
            by_node.setdefault(id(_target(doc, intent)), []).append(intent)
        if not _matches(_flatten(doc, by_node), _flatten(new_doc)):
            raise ManifestError(f"the planned edit of {before.filename} would change more than "
                                f"the target values (document {index + 1}); nothing was written",
                                hint="A construct near the edited value is not supported for "
                                "editing; edit this value by hand once")
    return after
