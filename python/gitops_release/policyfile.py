"""Read and validate ``gitops-release.yaml`` at the config repo's root into a :class:`Policy`.

The file is composed with ruamel.yaml (through :func:`gitops_release.yamledit.compose`: size,
alias and duplicate-key guards), so every error names ``file:line``. Validation follows
``schemas/gitops-release.schema.json`` rule for rule (a test runs both over the same good and bad
examples): unknown keys are errors, never ignored. Scalars are typed as YAML 1.2's core schema
types them (``true`` is a boolean, ``1.4`` a number, ``2026-11-26`` a string). All errors are
collected and reported together; one is enough to fail every deploy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitops_release import yamledit as y
from gitops_release.errors import ManifestError, PolicyError
from gitops_release.freeze import FreezeSyntaxError, Window, parse_cron, parse_instant
from gitops_release.paths import check_file
from gitops_release.policy import (
    POLICY_FILE,
    SCHEMES,
    WRITE_MODES,
    AppRule,
    EnvironmentRule,
    Hold,
    Policy,
    TargetSettings,
)
from gitops_release.receiverspec import CONTAINER_RE, ENV_NAME_RE, KEY_RE, VALUES_FILE_RE, WORKLOAD_RE

MAX_ERRORS = 20
REPOSITORY_GLOB_RE = re.compile(r"[A-Za-z0-9_.*?-]+/[A-Za-z0-9_.*?-]+", re.ASCII)
IMAGE_GLOB_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/*?\[\]-]*", re.ASCII)
PATH_GLOB_RE = re.compile(r"[A-Za-z0-9_.*?-]+(/[A-Za-z0-9_.*?-]+)*/?", re.ASCII)
NAME_GLOB_RE = re.compile(r"[A-Za-z0-9_.*?-]+", re.ASCII)
OVERLAY_PATH_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*", re.ASCII)
VERSION_RE = re.compile(r"[\w][\w.+-]{0,127}", re.ASCII)
INSTANT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?Z", re.ASCII)
DATE_OR_INSTANT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?Z)?",
                                re.ASCII)
CRON_RE = re.compile(r" *[0-9A-Za-z*,/-]+( +[0-9A-Za-z*,/-]+){4} *", re.ASCII)
INT_RE = re.compile(r"[-+]?[0-9]+", re.ASCII)
FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)"
                      r"|\.(nan|NaN|NAN)", re.ASCII)
MAX_TEXT = 500


def to_data(node: Any) -> Any:
    """The node tree as plain data, scalars typed by YAML 1.2's core schema (what a JSON Schema
    validator is given in the tests)."""
    kind = y.node_kind(node)
    if kind == "mapping":
        return {str(k.value): to_data(v) for k, v in node.value}
    if kind == "sequence":
        return [to_data(item) for item in node.value]
    return typed_scalar(node)


def typed_scalar(node: Any) -> Any:
    """A scalar node's value as YAML 1.2's core schema types it."""
    text = str(node.value)
    if getattr(node, "style", None) not in (None, ""):
        return text  # quoted or block scalars are strings (plain: '' from libyaml, None pure)
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    if INT_RE.fullmatch(text):
        return int(text)
    if FLOAT_RE.fullmatch(text):
        return float(text.replace(".inf", "inf").replace(".nan", "nan").lower())
    return text


class Reader:
    """Walks the composed document, collecting errors as ``file:line: where: what``."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[str] = []

    def at(self, node: Any) -> str:
        return f"{self.filename}:{node.start_mark.line + 1}"

    def fail(self, node: Any, where: str, what: str) -> None:
        self.errors.append(f"{self.at(node)}: {where}: {what}")

    def mapping(self, node: Any, where: str, known: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, Any] | None:
        if y.node_kind(node) != "mapping":
            self.fail(node, where, f"must be a mapping with the keys {', '.join(known)}")
            return None
        found: dict[str, Any] = {}
        for key, value in node.value:
            name = str(key.value) if y.node_kind(key) == "scalar" else "?"
            if name not in known:
                self.fail(key, where, f"unknown key {name!r}; known keys: {', '.join(known)}")
                continue
            found[name] = value
        for name in required:
            if name not in found:
                self.fail(node, where, f"the key {name!r} is required")
        return found

    def sequence(self, node: Any, where: str) -> list[Any]:
        if y.node_kind(node) != "sequence":
            self.fail(node, where, "must be a list")
            return []
        return list(node.value)

    def string(self, node: Any, where: str, regex: re.Pattern[str] | None = None,
               what: str = "", choices: tuple[str, ...] = ()) -> str | None:
        value = typed_scalar(node) if y.node_kind(node) == "scalar" else node
        if not isinstance(value, str) or not value:
            hint = f"; quote it: '{node.value}'" if y.node_kind(node) == "scalar" and value is not None \
                else ""
            self.fail(node, where, f"must be a non-empty string{hint}")
            return None
        if "\n" in value or len(value) > MAX_TEXT:
            self.fail(node, where, f"must be one line of at most {MAX_TEXT} characters")
            return None
        if choices and value not in choices:
            self.fail(node, where, f"{value!r} is not one of {', '.join(choices)}")
            return None
        if regex is not None and not regex.fullmatch(value):
            self.fail(node, where, f"{value!r} is not {what}")
            return None
        return value

    def boolean(self, node: Any, where: str) -> bool | None:
        value = typed_scalar(node) if y.node_kind(node) == "scalar" else None
        if not isinstance(value, bool):
            self.fail(node, where, "must be true or false")
            return None
        return value

    def integer(self, node: Any, where: str, low: int, high: int) -> int | None:
        value = typed_scalar(node) if y.node_kind(node) == "scalar" else None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(node, where, f"must be a whole number from {low} to {high}")
            return None
        return value

    def strings(self, node: Any, where: str, regex: re.Pattern[str], what: str) -> tuple[str, ...]:
        items = [self.string(item, f"{where}[{i}]", regex, what)
                 for i, item in enumerate(self.sequence(node, where))]
        return tuple(item for item in items if item is not None)


def _target(r: Reader, node: Any, where: str) -> TargetSettings:
    keys = r.mapping(node, where, ("container", "workload", "release-env", "max-attempts", "helm"))
    if keys is None:
        return TargetSettings()
    values: dict[str, Any] = {}
    checks: dict[str, tuple[str, re.Pattern[str], str]] = {
        "container": ("container", CONTAINER_RE, "a container name (a DNS label)"),
        "workload": ("workload", WORKLOAD_RE, "a workload name (a DNS subdomain)"),
        "release-env": ("release_env", ENV_NAME_RE, "an env var name"),
    }
    for key, (attr, regex, what) in checks.items():
        if key in keys:
            values[attr] = r.string(keys[key], f"{where}.{key}", regex, what)
    if "max-attempts" in keys:
        values["max_attempts"] = r.integer(keys["max-attempts"], f"{where}.max-attempts", 1, 20)
    if "helm" in keys:
        helm_keys = ("image-key", "tag-key", "digest-key", "release-key", "registry-key",
                     "values-file")
        helm = r.mapping(keys["helm"], f"{where}.helm", helm_keys) or {}
        for key, value in helm.items():
            if key == "values-file":
                values["helm_values_file"] = r.string(value, f"{where}.helm.{key}", VALUES_FILE_RE,
                                                      "a values file name such as values-prod.yaml")
                continue
            values["helm_" + key[:-4].replace("-", "_") + "_key"] = r.string(
                value, f"{where}.helm.{key}", KEY_RE, "a dotted key such as image.tag")
    return TargetSettings(**{k: v for k, v in values.items() if v is not None})


def _app(r: Reader, node: Any, where: str) -> AppRule | None:
    keys = r.mapping(node, where, ("match", "sources", "images", "verify-source", "target"),
                     ("match",))
    if keys is None or "match" not in keys:
        return None
    match = r.string(keys["match"], f"{where}.match", PATH_GLOB_RE,
                     "a path glob relative to the repository, e.g. apps/checkout/**")
    sources = images = None
    if "sources" in keys:
        sources = r.strings(keys["sources"], f"{where}.sources", REPOSITORY_GLOB_RE,
                            "owner/name (globs allowed, e.g. acme/*)")
    if "images" in keys:
        images = r.strings(keys["images"], f"{where}.images", IMAGE_GLOB_RE,
                           "an image repository without tag (globs allowed)")
    verify = "off"
    if "verify-source" in keys:
        verify = r.string(keys["verify-source"], f"{where}.verify-source",
                          choices=("off", "auto", "required")) or "off"
    target = _target(r, keys["target"], f"{where}.target") if "target" in keys else TargetSettings()
    if match is None:
        return None
    return AppRule(match, r.at(node), sources, images, target, verify)


def _window(r: Reader, node: Any, where: str) -> Window | None:
    keys = r.mapping(node, where, ("cron", "from", "until", "reason"), ("reason",))
    if keys is None:
        return None
    reason = r.string(keys["reason"], f"{where}.reason") if "reason" in keys else None
    if ("cron" in keys) == ("from" in keys or "until" in keys):
        r.fail(node, where, "give either cron, or from and until")
        return None
    try:
        if "cron" in keys:
            text = r.string(keys["cron"], f"{where}.cron", CRON_RE,
                            "five cron fields: minute hour day-of-month month day-of-week")
            return Window(reason, r.at(node), cron=parse_cron(text)) if text and reason else None
        if "from" not in keys or "until" not in keys:
            r.fail(node, where, "a date range needs both from and until")
            return None
        first = r.string(keys["from"], f"{where}.from", DATE_OR_INSTANT_RE, "YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM[:SS]Z")
        last = r.string(keys["until"], f"{where}.until", DATE_OR_INSTANT_RE, "YYYY-MM-DD or "
                        "YYYY-MM-DDTHH:MM[:SS]Z")
        if not (first and last and reason):
            return None
        start, end = parse_instant(first), parse_instant(last, end_of_day=True)
        if start >= end:
            r.fail(node, where, f"from {first} is not before until {last}")
            return None
        return Window(reason, r.at(node), start=start, end=end)
    except FreezeSyntaxError as exc:
        r.fail(node, where, str(exc))
        return None


def _environment(r: Reader, node: Any, where: str) -> EnvironmentRule | None:
    known = ("match", "version-scheme", "allow-forced-downgrade", "write-mode", "freeze")
    keys = r.mapping(node, where, known, ("match",))
    if keys is None or "match" not in keys:
        return None
    match = r.string(keys["match"], f"{where}.match", NAME_GLOB_RE,
                     "an overlay folder name glob, e.g. prod*")
    scheme = r.string(keys["version-scheme"], f"{where}.version-scheme", choices=SCHEMES) \
        if "version-scheme" in keys else None
    forced = r.boolean(keys["allow-forced-downgrade"], f"{where}.allow-forced-downgrade") \
        if "allow-forced-downgrade" in keys else True
    mode = r.string(keys["write-mode"], f"{where}.write-mode", choices=WRITE_MODES) \
        if "write-mode" in keys else None
    windows = [_window(r, item, f"{where}.freeze[{i}]")
               for i, item in enumerate(r.sequence(keys["freeze"], f"{where}.freeze"))] \
        if "freeze" in keys else []
    if match is None:
        return None
    return EnvironmentRule(match, r.at(node), scheme, forced is not False, mode,
                           tuple(w for w in windows if w is not None))


def _hold(r: Reader, node: Any, where: str) -> Hold | None:
    keys = r.mapping(node, where, ("path", "reason", "since", "by", "version"),
                     ("path", "reason", "since", "by"))
    if keys is None or len({"path", "reason", "since", "by"} & set(keys)) < 4:
        return None
    path = r.string(keys["path"], f"{where}.path", OVERLAY_PATH_RE,
                    "an overlay folder relative to the repository")
    reason = r.string(keys["reason"], f"{where}.reason")
    since = r.string(keys["since"], f"{where}.since", INSTANT_RE, "YYYY-MM-DDTHH:MM[:SS]Z (UTC)")
    by = r.string(keys["by"], f"{where}.by")
    version = r.string(keys["version"], f"{where}.version", VERSION_RE, "a version") \
        if "version" in keys else None
    if path is None or reason is None or since is None or by is None:
        return None
    return Hold(path, reason, since, by, r.at(node), version)


SECTIONS: dict[str, Callable[[Reader, Any, str], Any]] = {
    "apps": _app, "environments": _environment, "holds": _hold}


def parse_policy(text: str, filename: str = POLICY_FILE) -> Policy:
    """The policy in ``text``; PolicyError listing every problem (file:line) when it is invalid."""
    try:
        docs = y.compose(text, filename)
    except ManifestError as exc:
        raise PolicyError(exc.message, hint="Fix the policy file; no deploy runs until it is "
                          "valid") from None
    if len(docs) > 1:
        raise PolicyError(f"{filename} holds {len(docs)} YAML documents; it must hold one")
    if not docs:
        return Policy(filename=filename)
    r = Reader(filename)
    top = r.mapping(docs[0], "(top level)", ("version", *SECTIONS)) or {}
    version = typed_scalar(top["version"]) if "version" in top else 1
    if type(version) is not int or version != 1:  # true == 1 in Python, not in the format
        r.fail(top["version"], "version", "must be 1 (the only policy format so far)")
    parsed: dict[str, tuple[Any, ...]] = {}
    for section, read in SECTIONS.items():
        items = r.sequence(top[section], section) if section in top else []
        parsed[section] = tuple(rule for rule in (read(r, item, f"{section}[{i}]")
                                                  for i, item in enumerate(items)) if rule)
    seen: dict[str, str] = {}
    for hold in parsed["holds"]:
        if hold.path in seen:
            r.errors.append(f"{hold.where}: holds: {hold.path} is held twice (first at "
                            f"{seen[hold.path]})")
        seen.setdefault(hold.path, hold.where)
    if r.errors:
        shown = r.errors[:MAX_ERRORS] + ([f"... and {len(r.errors) - MAX_ERRORS} more"]
                                         if len(r.errors) > MAX_ERRORS else [])
        raise PolicyError("\n".join(shown), hint="Fix the policy file (schema: "
                          "docs/policy.md); no deploy runs until it is valid")
    return Policy(parsed["apps"], parsed["environments"], parsed["holds"], filename)


def read_policy_text(root: Path) -> str | None:
    """The policy file's text at the root of the checkout ``root``; None when there is none."""
    path = root / POLICY_FILE
    other = root / "gitops-release.yml"
    if check_file(other, "policy", other.name):
        raise PolicyError(f"{other.name} is not read; the policy file is {POLICY_FILE}",
                          hint=f"Rename it to {POLICY_FILE}")
    if not check_file(path, "policy", POLICY_FILE):
        if path.exists():
            raise PolicyError(f"{POLICY_FILE} is not a regular file",
                              hint=f"Make {POLICY_FILE} a file (not a folder or symlink)")
        return None
    data = path.read_bytes()
    if len(data) > y.MAX_FILE_BYTES:
        raise PolicyError(f"{POLICY_FILE} is larger than {y.MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{POLICY_FILE} is not UTF-8 text") from None


def load_policy(root: Path) -> Policy:
    """The policy of the config repo checked out at ``root``; the default rules without a file."""
    text = read_policy_text(root)
    return parse_policy(text, POLICY_FILE) if text is not None else Policy()
