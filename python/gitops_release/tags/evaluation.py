"""The rules applied to the context (metadata-action's ``meta.ts``): each enabled rule yields
at most one tag, the first is the ``version``, ``latest`` as the flavor and the first rule say."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from gitops_release.reference import validate_tag
from gitops_release.tags.context import Context
from gitops_release.tags.errors import tag_error as _fail
from gitops_release.tags.rules import Flavor, Rule, parse_rules
from gitops_release.tags.template import Helper, Value, _zone, format_moment, render

_SEMVER_NUM = r"0|[1-9]\d*"
_SEMVER_ID = rf"(?:{_SEMVER_NUM}|\d*[a-zA-Z-][a-zA-Z0-9-]*)"
_SEMVER_RE = re.compile(
    rf"v?({_SEMVER_NUM})\.({_SEMVER_NUM})\.({_SEMVER_NUM})"
    rf"(?:-({_SEMVER_ID}(?:\.{_SEMVER_ID})*))?(?:\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))?",
    re.ASCII)
_MAX_SAFE_INTEGER = 2**53 - 1
_UNSAFE_TAG_CHARS = re.compile(r"[^a-zA-Z0-9._-]+")


@dataclass(frozen=True)
class TagResult:
    """The computed tags: ``version`` first, then the others, de-duplicated."""

    version: str
    tags: tuple[str, ...]

    def references(self, image: str) -> list[str]:
        return [f"{image}:{tag}" for tag in self.tags]


def _date_helper(when: datetime) -> Helper:
    def helper(params: list[str], hashes: dict[str, str]) -> str:
        if len(params) != 1:
            raise _fail("{{date}} takes one format argument, e.g. {{date 'YYYYMMDD'}}")
        unknown = set(hashes) - {"tz"}
        if unknown:
            raise _fail(f"unknown date attribute {sorted(unknown)[0]!r}", "Only tz='Zone' is known")
        return format_moment(params[0], when.astimezone(_zone(hashes.get("tz", "UTC"))))
    return helper


def _global_scope(ctx: Context) -> dict[str, Value]:
    def base_ref(_: list[str], __: dict[str, str]) -> str:
        if ctx.ref.startswith("refs/tags/") and isinstance(ctx.payload.get("base_ref"), str):
            return str(ctx.payload["base_ref"]).removeprefix("refs/heads/")
        pull = ctx.payload.get("pull_request")
        if ctx.ref.startswith("refs/pull/") and isinstance(pull, dict):
            return str(pull.get("base", {}).get("ref", ""))
        return ""

    def is_default_branch(_: list[str], __: dict[str, str]) -> str:
        branch = ctx.ref.removeprefix("refs/heads/")
        if not branch:
            return "false"
        if ctx.default_branch == branch:
            return "true"
        return "true" if re.search("create|discussion|issues|schedule", ctx.event_name) else "false"

    return {"branch": ctx.branch, "tag": ctx.tag, "sha": ctx.short_sha, "base_ref": base_ref,
            "is_default_branch": is_default_branch, "date": _date_helper(ctx.now)}


def _semver_scope(text: str) -> dict[str, Value] | None:
    """node-semver's ``valid`` (strict, leading 'v' allowed) and the fields patterns may use."""
    match = _SEMVER_RE.fullmatch(text.strip()) if len(text) <= 256 else None
    if match is None or any(int(part) > _MAX_SAFE_INTEGER for part in match.groups()[:3]):
        return None
    major, minor, patch, prerelease, build = match.groups()
    version = f"{major}.{minor}.{patch}" + (f"-{prerelease}" if prerelease else "")
    return {"raw": text, "version": version, "major": major, "minor": minor, "patch": patch,
            "prerelease": ",".join((prerelease or "").split(".")) if prerelease else "",
            "build": ",".join(build.split(".")) if build else ""}


def _is_raw_statement(pattern: str) -> bool:
    return re.fullmatch(r"\{\{\s*raw\s*\}\}", pattern) is not None


class _Evaluator:
    def __init__(self, ctx: Context, flavor: Flavor) -> None:
        self.ctx = ctx
        self.flavor = flavor
        self.scope = _global_scope(ctx)

    def expand(self, text: str) -> str:
        return render(text, self.scope)

    def decorate(self, value: str, rule: Rule) -> str:
        prefix = rule.attrs.get("prefix", self.flavor.prefix)
        suffix = rule.attrs.get("suffix", self.flavor.suffix)
        return f"{self.expand(prefix)}{value}{self.expand(suffix)}"

    def latest(self, auto: bool) -> bool:
        return auto if self.flavor.latest == "auto" else self.flavor.latest == "true"

    def tag_for(self, rule: Rule) -> tuple[str, bool]:
        """The rule's tag (empty: none) and whether it asks for ``latest``."""
        ctx, attrs = self.ctx, rule.attrs
        on_tag = ctx.ref.startswith("refs/tags/")
        if rule.type == "schedule":
            if "schedule" not in ctx.event_name:
                return "", False
            scope: dict[str, Value] = {"date": _date_helper(ctx.now)}
            return self.decorate(render(attrs["pattern"], scope), rule), self.latest(False)
        if rule.type == "semver":
            return self._semver(rule, on_tag)
        if rule.type == "match":
            return self._match(rule, on_tag)
        if rule.type == "ref":
            event = attrs["event"]
            if event == "branch" and ctx.ref.startswith("refs/heads/"):
                return self.decorate(ctx.branch, rule), self.latest(False)
            if event == "tag" and on_tag:
                return self.decorate(ctx.tag, rule), self.latest(True)
            if event == "pr" and ctx.ref.startswith("refs/pull/"):
                number = ctx.ref.removeprefix("refs/pull/").removesuffix("/merge")
                return self.decorate(number, rule), self.latest(False)
            return "", False
        if rule.type == "edge":
            branch = attrs["branch"] or ctx.default_branch
            if not ctx.ref.startswith("refs/heads/") or branch != ctx.branch:
                return "", False
            return self.decorate("edge", rule), self.latest(False)
        if rule.type == "raw":
            return self.decorate(self.expand(attrs["value"]), rule), self.latest(False)
        if not ctx.sha:  # sha
            return "", False
        value = ctx.short_sha if attrs["format"] == "short" else ctx.sha
        return self.decorate(value, rule), self.latest(False)

    def _source(self, rule: Rule, on_tag: bool) -> str | None:
        if not on_tag and not rule.attrs["value"]:
            return None
        return self.expand(rule.attrs["value"]) if rule.attrs["value"] else self.ctx.tag

    def _semver(self, rule: Rule, on_tag: bool) -> tuple[str, bool]:
        raw = self._source(rule, on_tag)
        if raw is None:
            return "", False
        if rule.attrs["match"]:
            found = re.search(rule.attrs["match"], raw)
            if found is not None:
                raw = found.group(1) if found.re.groups else found.group(0)
        raw = raw.replace("/", "-")
        scope = _semver_scope(raw)
        if scope is None:
            return "", False  # metadata-action warns "is not a valid semver" and skips the rule
        if scope["prerelease"]:
            pattern = rule.attrs["pattern"] if _is_raw_statement(rule.attrs["pattern"]) else \
                "{{version}}"
            return self.decorate(render(pattern, scope), rule), self.latest(False)
        return self.decorate(render(rule.attrs["pattern"], scope), rule), self.latest(True)

    def _match(self, rule: Rule, on_tag: bool) -> tuple[str, bool]:
        raw = self._source(rule, on_tag)
        if raw is None:
            return "", False
        pattern = rule.attrs["pattern"]
        regex = re.fullmatch(r"/(.+)/(.*)", pattern)
        try:
            flags = re.IGNORECASE if regex and "i" in regex.group(2) else 0
            found = re.search(regex.group(1) if regex else pattern, raw, flags)
        except re.error as exc:
            raise _fail(f"pattern={pattern!r} is not a regular expression: {exc}") from exc
        group = int(rule.attrs["group"])
        if found is None or group > (found.re.groups or 0) or found.group(group) is None:
            return "", False
        return self.decorate(found.group(group), rule), self.latest(True)


def sanitize_tag(value: str) -> str:
    return _UNSAFE_TAG_CHARS.sub("-", value)


def compute_tags(rules_text: str, ctx: Context, flavor: Flavor | None = None) -> TagResult:
    """Apply the rules to the context, as metadata-action does; no tag at all is an error."""
    rules = parse_rules(rules_text)
    evaluator = _Evaluator(ctx, flavor or Flavor())
    main = ""
    partial: list[str] = []
    latest: bool | None = None
    for rule in rules:
        enabled = evaluator.expand(rule.attrs["enable"])
        if enabled not in ("true", "false"):
            raise _fail(f"enable={enabled!r} is neither true nor false in the rule {rule.text!r}")
        if enabled == "false":
            continue
        value, wants_latest = evaluator.tag_for(rule)
        if not value:
            continue
        value = validate_tag(sanitize_tag(value), "tags")
        if not main:
            main = value
        elif value != main and value not in partial:
            partial.append(value)
        if latest is None:
            latest = wants_latest
    if not main:
        raise _fail(f"no rule produced a tag for {ctx.ref or 'this event'}",
                    "Add a rule that applies to every event, e.g. type=raw,value={{date "
                    "'YYYYMMDDHHmmssSSS'}} or type=sha")
    tags = [main, *partial]
    if latest:
        fl = evaluator.flavor
        tags.append(sanitize_tag(f"{fl.prefix if fl.prefix_latest else ''}latest"
                                 f"{fl.suffix if fl.suffix_latest else ''}"))
    return TagResult(main, tuple(dict.fromkeys(tags)))
