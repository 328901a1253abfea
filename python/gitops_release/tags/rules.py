"""Tag rules and flavor, parsed (metadata-action's ``tag.ts`` and ``flavor.ts``): one rule per
line of comma-separated ``key=value`` attributes, defaults per type, sorted by priority."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_release.errors import InputError
from gitops_release.tags.errors import tag_error as _fail

DEFAULT_RULES = "type=semver,pattern={{raw}}\ntype=raw,value={{date 'YYYYMMDDHHmmssSSS'}}"
DEFAULT_PRIORITIES = {"schedule": 1000, "semver": 900, "match": 800, "edge": 700, "ref": 600,
                      "raw": 200, "sha": 100}
RULE_ATTRIBUTES = {
    "schedule": {"pattern"},
    "semver": {"pattern", "value", "match"},
    "match": {"pattern", "group", "value"},
    "edge": {"branch"},
    "ref": {"event"},
    "raw": {"value"},
    "sha": {"format"},
}
COMMON_ATTRIBUTES = {"enable", "priority", "prefix", "suffix"}


# -- rules -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One parsed tag rule: its type, attributes and priority."""

    type: str
    attrs: Mapping[str, str]
    priority: int
    text: str


def _fields(line: str) -> list[str]:
    try:
        return next(csv.reader([line], skipinitialspace=False))
    except (csv.Error, StopIteration) as exc:
        raise _fail(f"cannot parse the rule {line!r}") from exc


def parse_rule(line: str) -> Rule:
    kind = ""
    attrs: dict[str, str] = {}
    for item in _fields(line):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            attrs["value"] = item.strip()
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "type":
            if value == "pep440":
                raise _fail(f"type=pep440 is not supported (rule {line!r})",
                            "Use type=semver for semantic versions")
            if value not in DEFAULT_PRIORITIES:
                raise _fail(f"unknown tag type {value!r} in the rule {line!r}",
                            f"Use one of {', '.join(sorted(DEFAULT_PRIORITIES))}")
            kind = value
        else:
            attrs[key] = value
    kind = kind or "raw"
    unknown = set(attrs) - RULE_ATTRIBUTES[kind] - COMMON_ATTRIBUTES
    if unknown:
        raise _fail(f"unknown attribute {sorted(unknown)[0]!r} for type={kind} in the rule {line!r}",
                    f"type={kind} takes {', '.join(sorted(RULE_ATTRIBUTES[kind] | COMMON_ATTRIBUTES))}")
    _apply_defaults(kind, attrs, line)
    priority_text = attrs.get("priority", str(DEFAULT_PRIORITIES[kind]))
    if not re.fullmatch(r"-?\d+", priority_text):
        raise _fail(f"priority={priority_text!r} is not a whole number in the rule {line!r}")
    return Rule(kind, attrs, int(priority_text), line)


def _apply_defaults(kind: str, attrs: dict[str, str], line: str) -> None:
    if kind == "schedule":
        attrs.setdefault("pattern", "nightly")
    elif kind in ("semver", "match"):
        if "pattern" not in attrs:
            raise _fail(f"the rule {line!r} needs a pattern attribute")
        attrs.setdefault("value", "")
        attrs.setdefault("match" if kind == "semver" else "group", "" if kind == "semver" else "0")
        if kind == "match" and not attrs["group"].isdigit():
            raise _fail(f"group={attrs['group']!r} is not a number in the rule {line!r}")
    elif kind == "edge":
        attrs.setdefault("branch", "")
    elif kind == "ref":
        if attrs.get("event") not in ("branch", "tag", "pr"):
            raise _fail(f"the rule {line!r} needs event=branch, event=tag or event=pr")
        if attrs["event"] == "pr":
            attrs.setdefault("prefix", "pr-")
    elif kind == "raw" and "value" not in attrs:
        raise _fail(f"the rule {line!r} needs a value attribute")
    elif kind == "sha":
        attrs.setdefault("prefix", "sha-")
        attrs.setdefault("format", "short")
        if attrs["format"] not in ("short", "long"):
            raise _fail(f"format={attrs['format']!r} is not short or long in the rule {line!r}")
    attrs.setdefault("enable", "true")


def parse_rules(text: str) -> list[Rule]:
    """Rules one per line (blank lines and ``#`` comments skipped), sorted by priority."""
    rules = [parse_rule(line.strip()) for line in text.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    return sorted(rules, key=lambda rule: -rule.priority)  # stable: ties keep their order


@dataclass(frozen=True)
class Flavor:
    """metadata-action's ``flavor`` input: ``latest=auto|true|false``, prefix/suffix defaults."""

    latest: str = "auto"
    prefix: str = ""
    suffix: str = ""
    prefix_latest: bool = False
    suffix_latest: bool = False


def parse_flavor(text: str) -> Flavor:
    values: dict[str, Any] = {}
    for line in filter(None, (line.strip() for line in text.splitlines())):
        last = ""
        for item in _fields(line):
            key, sep, value = item.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep:
                raise InputError(f"invalid entry {line!r}", input_name="flavor")
            if key == "latest" and value in ("auto", "true", "false"):
                values["latest"] = value
            elif key in ("prefix", "suffix"):
                values[key], last = value, key
            elif key == "onlatest" and value in ("true", "false") and last:
                values[f"{last}_latest"] = value == "true"
            else:
                raise InputError(f"invalid entry {item!r}", input_name="flavor",
                                 hint="Use latest=auto|true|false, prefix=…[,onlatest=true], "
                                      "suffix=…[,onlatest=true]")
    return Flavor(**values)


