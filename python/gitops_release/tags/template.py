"""The expressions of tag rules: a strict subset of Handlebars (``{{name}}``,
``{{name 'argument' key='value'}}``, ``{{{ }}}`` without HTML escaping, ``{{! comments }}``) and
moment.js date formats for ``{{date 'FORMAT' tz='Zone'}}``, as metadata-action evaluates them.
Anything else is an error naming ``tags`` rather than a silent empty string."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone, tzinfo

from gitops_release.tags.errors import tag_error as _fail

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

