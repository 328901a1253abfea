"""Inputs: declared once per command, read once into a frozen, typed object.

The same declaration drives the CLI flags (``--release-env``), the environment variables a
composite action maps its inputs to (``GITOPS_RELEASE_RELEASE_ENV``), and a test that checks every
``action.yml`` declares exactly these inputs with the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitops_release.errors import InputError

ENV_PREFIX = "GITOPS_RELEASE_"
TRUE_VALUES = frozenset({"true", "True", "TRUE"})
FALSE_VALUES = frozenset({"false", "False", "FALSE"})


@dataclass(frozen=True)
class InputSpec:
    """One input of a command: a kebab-case name, its default (as the string action.yml holds)."""

    name: str
    description: str
    required: bool = False
    default: str = ""
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper().replace("-", "_")

    @property
    def flag(self) -> str:
        return "--" + self.name


@dataclass(frozen=True)
class CommandSpec:
    """A subcommand: its inputs and the outputs it sets (name → description)."""

    name: str
    help: str
    inputs: tuple[InputSpec, ...]
    outputs: Mapping[str, str] = field(default_factory=dict)


def resolve(spec: CommandSpec, flags: Mapping[str, str | None],
            environ: Mapping[str, str]) -> dict[str, str]:
    """Raw string values per input: the CLI flag, else the environment variable, else the default.

    An empty value counts as unset (a composite action maps an input it was not given to "").
    """
    values: dict[str, str] = {}
    for item in spec.inputs:
        value = flags.get(item.name)
        if value is None or value == "":
            value = environ.get(item.env, "")
        if value == "":
            value = item.default
        if item.required and value.strip() == "":
            raise InputError(
                "is required and was not given",
                input_name=item.name,
                hint=f"Pass it as the action input '{item.name}' or the flag {item.flag}",
            )
        values[item.name] = value
    return values


def parse_bool(name: str, value: str) -> bool:
    """Strict YAML 1.2 core-schema booleans, as GitHub's own toolkit reads them."""
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise InputError(
        f"{value!r} is not a boolean",
        input_name=name,
        hint="Use one of true, True, TRUE, false, False, FALSE",
    )


def parse_int(name: str, value: str, *, minimum: int, maximum: int) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise InputError(f"{value!r} is not a whole number", input_name=name,
                         hint=f"Use a number from {minimum} to {maximum}")
    number = int(text)
    if not minimum <= number <= maximum:
        raise InputError(f"{number} is out of range", input_name=name,
                         hint=f"Use a number from {minimum} to {maximum}")
    return number


def parse_list(value: str) -> tuple[str, ...]:
    """A list input: one item per line or comma-separated; blanks dropped."""
    items: list[str] = []
    for line in value.splitlines():
        items.extend(part.strip() for part in line.split(","))
    return tuple(item for item in items if item)


def check_text(name: str, value: str, *, multiline: bool = False, max_length: int = 4096) -> str:
    """Refuse control characters (NUL, ESC, CR; newlines unless ``multiline``) and over-long text."""
    for ch in value:
        if (ch < " " and not (multiline and ch in "\n\t")) or ch == "\x7f":
            raise InputError(f"contains the control character {ch!r}", input_name=name,
                             hint="Remove control characters from the value")
    if len(value) > max_length:
        raise InputError(f"is {len(value)} characters long, more than {max_length}",
                         input_name=name)
    return value
