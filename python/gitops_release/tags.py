"""Image tags from docker/metadata-action's rule syntax, with its results.

A rule is one line of comma-separated ``key=value`` attributes, e.g.
``type=semver,pattern={{major}}.{{minor}},prefix=v``. Rules are sorted by ``priority`` (highest
first, ties keep their order), each enabled rule yields at most one tag, the first tag is the
``version`` and the others follow, de-duplicated; a ``latest`` tag is added when the first rule
that yields a tag says so (``flavor`` ``latest=auto``: semver on a release tag, ``ref,event=tag``,
``match``; never ``raw``, ``sha``, branches or pre-releases).

Supported types (default priority): ``schedule`` (1000), ``semver`` (900), ``match`` (800),
``edge`` (700), ``ref`` (600), ``raw`` (200), ``sha`` (100). Expressions are a small, strict
subset of the Handlebars templates metadata-action evaluates: ``{{branch}}``, ``{{tag}}``,
``{{sha}}``, ``{{base_ref}}``, ``{{is_default_branch}}``, ``{{date 'FORMAT' tz='Zone'}}`` (moment.js
format tokens) and, in semver patterns, ``{{raw}}``, ``{{version}}``, ``{{major}}``, ``{{minor}}``,
``{{patch}}``. Anything else is an :class:`InputError` naming ``tags`` rather than a silent
empty string.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any

from gitops_release.errors import InputError
from gitops_release.reference import validate_tag

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
_SEMVER_NUM = r"0|[1-9]\d*"
_SEMVER_ID = rf"(?:{_SEMVER_NUM}|\d*[a-zA-Z-][a-zA-Z0-9-]*)"
_SEMVER_RE = re.compile(
    rf"v?({_SEMVER_NUM})\.({_SEMVER_NUM})\.({_SEMVER_NUM})"
    rf"(?:-({_SEMVER_ID}(?:\.{_SEMVER_ID})*))?(?:\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))?",
    re.ASCII)
_MAX_SAFE_INTEGER = 2**53 - 1
_UNSAFE_TAG_CHARS = re.compile(r"[^a-zA-Z0-9._-]+")


def _fail(message: str, hint: str = "") -> InputError:
    return InputError(message, input_name="tags", hint=hint or
                      "Use docker/metadata-action's tag syntax, e.g. type=semver,pattern={{raw}}")


# -- the GitHub context a rule sees ----------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """What the rules read: the event's ref and sha, its name and payload, and the clock."""

    ref: str
    sha: str = ""
    event_name: str = "push"
    payload: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    short_sha_length: int = 7

    @property
    def branch(self) -> str:
        return self.ref[len("refs/heads/"):] if self.ref.startswith("refs/heads/") else ""

    @property
    def tag(self) -> str:
        return self.ref[len("refs/tags/"):] if self.ref.startswith("refs/tags/") else ""

    @property
    def short_sha(self) -> str:
        return self.sha[: self.short_sha_length]

    @property
    def default_branch(self) -> str:
        repository = self.payload.get("repository")
        return str(repository.get("default_branch", "")) if isinstance(repository, dict) else ""


# -- moment.js date formats ------------------------------------------------------------------
_MOMENT_TOKEN = re.compile(
    r"\[[^\[]*\]|\\.|Mo|DDDo|Do|do|[wWQy]o|YYYYYY|YYYYY|y{2,4}|gg(?:ggg?)?|GG(?:GGG?)?(?!G)|N{1,5}|"
    r"YYYY|YY|Q|MMMM|MMM|MM|M|DDDD|DDD|DD|D|dddd|ddd|dd|d|HH|H|hh|h|kk|k|mm|m|"
    r"ss|s|S{1,9}|A|a|ZZ|Z|X|x|WW|W|GGGG|.", re.DOTALL)
_MOMENT_LETTERS = set("YMDdHhkmsSAaZXxWwQGgEeNyzo")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _moment_token(token: str, t: datetime) -> str:
    hour12 = t.hour % 12 or 12
    offset = t.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    fraction = f"{t.microsecond // 1000:03d}000000"  # JavaScript dates stop at milliseconds
    simple: dict[str, str] = {
        "YYYY": f"{t.year:04d}", "YY": f"{t.year % 100:02d}", "Q": str((t.month - 1) // 3 + 1),
        "MMMM": _MONTHS[t.month - 1], "MMM": _MONTHS[t.month - 1][:3], "MM": f"{t.month:02d}",
        "M": str(t.month), "DDDD": f"{t.timetuple().tm_yday:03d}", "DDD": str(t.timetuple().tm_yday),
        "DD": f"{t.day:02d}", "D": str(t.day), "dddd": _DAYS[(t.weekday() + 1) % 7],
        "ddd": _DAYS[(t.weekday() + 1) % 7][:3], "dd": _DAYS[(t.weekday() + 1) % 7][:2],
        "d": str((t.weekday() + 1) % 7), "HH": f"{t.hour:02d}", "H": str(t.hour),
        "hh": f"{hour12:02d}", "h": str(hour12), "kk": f"{t.hour or 24:02d}", "k": str(t.hour or 24),
        "mm": f"{t.minute:02d}", "m": str(t.minute), "ss": f"{t.second:02d}", "s": str(t.second),
        "A": "AM" if t.hour < 12 else "PM", "a": "am" if t.hour < 12 else "pm",
        "Z": zone, "ZZ": zone.replace(":", ""), "X": str(int(t.timestamp())),
        "x": str(int(t.timestamp()) * 1000 + t.microsecond // 1000), "WW": f"{t.isocalendar()[1]:02d}",
        "W": str(t.isocalendar()[1]), "GGGG": f"{t.isocalendar()[0]:04d}",
    }
    if token in simple:
        return simple[token]
    if token.startswith("S"):
        return fraction[: len(token)]
    if token.startswith("["):
        return token[1:-1]
    if token.startswith("\\"):
        return token[1:]
    if token[0] in _MOMENT_LETTERS:
        raise _fail(f"the date format token {token!r} is not supported",
                    "Use YYYY YY Q M MM MMM MMMM D DD DDD DDDD d dd ddd dddd H HH h hh k kk m mm "
                    "s ss S… A a Z ZZ X x W WW GGGG, and [text] for literal text")
    return token


def format_moment(pattern: str, when: datetime) -> str:
    """Format ``when`` like moment.js's ``format(pattern)`` for the supported tokens."""
    return "".join(_moment_token(m.group(0), when) for m in _MOMENT_TOKEN.finditer(pattern))


def _zone(name: str) -> tzinfo:
    if name == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _fail(f"unknown time zone {name!r} in a date expression",
                    "Use an IANA zone name such as Europe/Oslo") from exc


# -- a strict subset of Handlebars -----------------------------------------------------------
_EXPRESSION = re.compile(r"(?<!\\)\{\{(\{)?(~)?\s*(.*?)\s*(~)?(\})?\}\}", re.DOTALL)
_ARGUMENT = re.compile(r"""\s*(?:([A-Za-z_]\w*)=)?(?:'([^']*)'|"([^"]*)")""")
_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;",
                 "`": "&#x60;", "=": "&#x3D;"}
Helper = Callable[[list[str], dict[str, str]], str]
Value = str | Helper


def _call(name: str, body: str, scope: Mapping[str, Value]) -> str:
    if name not in scope:
        raise _fail(f"unknown expression {{{{{name}}}}}",
                    f"Known here: {', '.join('{{' + key + '}}' for key in scope)}")
    params: list[str] = []
    hashes: dict[str, str] = {}
    rest = body[len(name):]
    while rest.strip():
        match = _ARGUMENT.match(rest)
        if match is None:
            raise _fail(f"cannot read the arguments of {{{{{body}}}}}",
                        "Quote string arguments: {{date 'YYYYMMDD' tz='Europe/Oslo'}}")
        key, single, double = match.groups()
        text = single if single is not None else double
        if key:
            hashes[key] = text
        else:
            params.append(text)
        rest = rest[match.end():]
    value = scope[name]
    if callable(value):
        return value(params, hashes)
    if params or hashes:
        raise _fail(f"{{{{{name}}}}} takes no arguments")
    return value


def render(template: str, scope: Mapping[str, Value]) -> str:
    """Evaluate ``{{name 'arg' key='value'}}`` expressions; ``{{{ }}}`` is not HTML-escaped."""
    out: list[str] = []
    position = 0
    for match in _EXPRESSION.finditer(template):
        triple, _, body, _, closing = match.groups()
        out.append(template[position:match.start()].replace("\\{{", "{{"))
        position = match.end()
        if body.startswith("!"):
            continue  # a comment
        if bool(triple) != bool(closing) or not re.match(r"[A-Za-z_]\w*", body):
            raise _fail(f"the expression {match.group(0)!r} is not supported",
                        "Only {{name}} and {{name 'argument'}} expressions are evaluated")
        name = re.match(r"[A-Za-z_]\w*", body).group(0)  # type: ignore[union-attr]
        text = _call(name, body, scope)
        out.append(text if triple else "".join(_HTML_ESCAPES.get(ch, ch) for ch in text))
    out.append(template[position:].replace("\\{{", "{{"))
    return "".join(out)


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


# -- evaluation ------------------------------------------------------------------------------
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


def context_from_environ(environ: Mapping[str, str], now: datetime | None = None) -> Context:
    """The context of the running workflow, read from the ``GITHUB_*`` variables."""
    import json
    from pathlib import Path

    payload: dict[str, Any] = {}
    event_path = environ.get("GITHUB_EVENT_PATH", "")
    if event_path and Path(event_path).is_file():
        try:
            loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
            payload = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            payload = {}
    length = environ.get("DOCKER_METADATA_SHORT_SHA_LENGTH", "7")
    return Context(ref=environ.get("GITHUB_REF", ""), sha=environ.get("GITHUB_SHA", ""),
                   event_name=environ.get("GITHUB_EVENT_NAME", ""), payload=payload,
                   now=now or datetime.now(timezone.utc),
                   short_sha_length=int(length) if length.isdigit() else 7)


def labels(version: str, environ: Mapping[str, str], created: datetime,
           extra: Sequence[str] = ()) -> dict[str, str]:
    """OCI labels from the ``GITHUB_*`` variables, then the user's ``key=value`` lines, by key."""
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY", "")
    result = {
        "org.opencontainers.image.created": created.astimezone(timezone.utc)
        .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "org.opencontainers.image.revision": environ.get("GITHUB_SHA", ""),
        "org.opencontainers.image.source": f"{server}/{repository}" if repository else "",
        "org.opencontainers.image.title": repository.rsplit("/", 1)[-1],
        "org.opencontainers.image.version": version,
    }
    for line in extra:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{line!r} is not key=value", input_name="labels")
        result[key.strip()] = value
    return dict(sorted(result.items()))
