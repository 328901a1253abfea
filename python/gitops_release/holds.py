"""Holds in the policy file: add or remove one ``holds:`` entry, leaving every other byte of
``gitops-release.yaml`` as it was (comments, order, quoting, the other rules).

An edit inserts or deletes whole lines of the ``holds:`` list (and turns ``holds: []`` into a
block list or back), then the new text is parsed again: it must be a valid policy whose holds
are the old ones plus or minus exactly that entry, and whose other sections read the same.
Nothing is written when that check fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gitops_release import yamledit as y
from gitops_release.errors import InputError, PolicyError
from gitops_release.policy import POLICY_FILE, Policy
from gitops_release.policyfile import parse_policy, to_data, typed_scalar

NEW_FILE_HEADER = (
    "# gitops-release policy: who may deploy what where, and which overlays are held.\n"
    "# Reference: docs/policy.md of gitops-release; schema: schemas/gitops-release.schema.json.\n"
)


@dataclass(frozen=True)
class NewHold:
    path: str
    reason: str
    since: str  # YYYY-MM-DDTHH:MM:SSZ
    by: str
    version: str | None = None


def _entry_lines(hold: NewHold, dash: int, key: int) -> list[str]:
    """The entry as YAML lines: free text always double-quoted (JSON strings are YAML)."""
    pairs = [("path", y.format_scalar(hold.path, None)),
             ("reason", json.dumps(hold.reason, ensure_ascii=False)),
             ("since", y.format_scalar(hold.since, None)),
             ("by", json.dumps(hold.by, ensure_ascii=False))]
    if hold.version:
        pairs.append(("version", y.format_scalar(hold.version, None)))
    first = " " * dash + "-" + " " * (key - dash - 1) + f"{pairs[0][0]}: {pairs[0][1]}"
    return [first] + [" " * key + f"{name}: {value}" for name, value in pairs[1:]]


def _top(text: str) -> Any | None:
    docs = y.compose(text, POLICY_FILE)
    if not docs:
        return None
    if y.node_kind(docs[0]) != "mapping" or y.is_flow(docs[0]):
        raise PolicyError(f"{POLICY_FILE}: the top level is not a block mapping, so a hold cannot "
                          "be added to it", hint="Write the file as block YAML (key: value lines)")
    return docs[0]


def _append_section(text: str, hold: NewHold) -> str:
    nl = y.newline_of(text) if text else "\n"
    lines = ["holds:", *_entry_lines(hold, 2, 4)]
    body = "".join(line + nl for line in lines)
    if text and not text.endswith("\n"):
        body = nl + body
    return (text or NEW_FILE_HEADER) + body


def _holds_node(top: Any) -> tuple[Any, Any] | None:
    key = y.get_key(top, "holds")
    return (key, y.get(top, "holds")) if key is not None else None


def insert_hold(text: str | None, hold: NewHold) -> str:
    """``text`` (None: no policy file yet) with ``hold`` appended to ``holds:``."""
    top = _top(text) if text else None
    found = _holds_node(top) if top is not None else None
    if text is None or found is None:
        return _append_section(text or "", hold)
    key, seq = found
    nl = y.newline_of(text)
    empty = y.node_kind(seq) == "scalar" and typed_scalar(seq) is None  # holds: / holds: ~
    if empty or (y.node_kind(seq) == "sequence" and y.is_flow(seq) and not seq.value):
        column = key.start_mark.column
        lines = _entry_lines(hold, column + 2, column + 4)
        colon = key.end_mark.index + 1
        value_end = seq.end_mark.index if str(seq.value) else colon
        after = text[:colon] + text[value_end:]
        at = after.find("\n", colon)
        at = len(after) if at < 0 else at + 1
        body = "".join(line + nl for line in lines)
        if at == len(after) and not after.endswith("\n"):
            body = nl + body
        return after[:at] + body + after[at:]
    if y.node_kind(seq) != "sequence" or y.is_flow(seq):
        raise PolicyError(f"{POLICY_FILE}:{seq.start_mark.line + 1}: holds is not a block list, "
                          "so a hold cannot be added to it",
                          hint="Write holds: as a block list (one '- path: ...' entry per hold)")
    last = seq.value[-1]
    dash = y.dash_column(text, last)
    dash = seq.start_mark.column if dash is None else dash
    key_col = y.key_column(last) if y.node_kind(last) == "mapping" and not y.is_flow(last) \
        else dash + 2
    at = y.end_of_node_line(text, seq)
    body = "".join(line + nl for line in _entry_lines(hold, dash, key_col))
    if at == len(text) and not text.endswith("\n"):
        body = nl + body
    return text[:at] + body + text[at:]


def _item_start(text: str, item: Any) -> int:
    """The start of the line holding the ``-`` that introduces ``item``."""
    index = item.start_mark.index - 1
    while index >= 0 and text[index] in " \t\r\n":
        index -= 1
    return y.line_start(text, index)


def delete_hold(text: str, path: str) -> str:
    """``text`` without the hold on ``path``; the last one removed leaves ``holds: []``."""
    top = _top(text)
    found = _holds_node(top) if top is not None else None
    key, seq = found if found is not None else (None, None)
    items = [item for item in y.iter_items(seq) if y.scalar(y.get(item, "path")) == path]
    if key is None or seq is None or not items:
        raise InputError(f"{path} is not held in {POLICY_FILE}", input_name="path",
                         hint="Give the path exactly as the hold's path: line says")
    if y.is_flow(seq):
        raise PolicyError(f"{POLICY_FILE}:{seq.start_mark.line + 1}: holds is not a block list, "
                          "so a hold cannot be removed from it",
                          hint="Write holds: as a block list (one '- path: ...' entry per hold)")
    item = items[0]
    edits = [y.Edit(_item_start(text, item), y.end_of_node_line(text, item), "")]
    if len(seq.value) == 1:
        colon = key.end_mark.index + 1
        edits.append(y.Edit(colon, colon, " []"))
    return y.apply_edits(text, edits)


def _others(policy_text: str | None) -> Any:
    docs = y.compose(policy_text, POLICY_FILE) if policy_text else []
    data = to_data(docs[0]) if docs else {}
    return {k: v for k, v in (data or {}).items() if k != "holds"}


def verify(old_text: str | None, new_text: str, old: Policy, expected: list[str]) -> Policy:
    """Parse the edited text: a valid policy with holds ``expected`` (in order) and everything
    else as before. Raises PolicyError (nothing is written) otherwise."""
    try:
        new = parse_policy(new_text, POLICY_FILE)
    except PolicyError as exc:
        raise PolicyError(f"the edited {POLICY_FILE} does not read back as a valid policy "
                          f"({exc.message}); nothing was written",
                          hint="Please report this with the file") from None
    held = [hold.path for hold in new.holds]
    if held != expected or _others(old_text) != _others(new_text):
        raise PolicyError(f"the edited {POLICY_FILE} does not read back as written (holds: "
                          f"{held}, expected {expected}); nothing was written",
                          hint="Please report this with the file")
    return new
