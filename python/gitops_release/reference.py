"""Image references, parsed and validated exactly by the distribution/reference grammar.

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name          (at most 255 characters)
    domain           := host [':' port-number]
    host             := domain-name | '[' IPv6address ']'
    domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    remote-name      := path-component ['/' path-component]*
    path-component   := [a-z0-9]+ ( ([._]|__|[-]+) [a-z0-9]+ )*
    tag              := [\\w][\\w.-]{0,127}
    digest           := algorithm ":" hex   (sha256: 64, sha384: 96, sha512: 128 lowercase hex)

Only ASCII, always a full match: a trailing newline or a look-alike character is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitops_release.errors import ImageReferenceError

NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN}/)?{_REMOTE_NAME}"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_NAME_RE = re.compile(_NAME, re.ASCII)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"[a-f0-9]+", re.ASCII)


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference. ``name`` includes the domain when there is one."""

    name: str
    tag: str | None = None
    digest: str | None = None

    @property
    def domain(self) -> str:
        """The registry host, by docker's rule: a first component with '.' or ':', ``localhost``,
        or one with an uppercase letter (a path component cannot have one)."""
        first, _, rest = self.name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
            return first
        return ""

    @property
    def path(self) -> str:
        """The repository path without the domain."""
        domain = self.domain
        return self.name[len(domain) + 1 :] if domain else self.name

    @property
    def short_name(self) -> str:
        """The last path component: the app's name by convention."""
        return self.name.rsplit("/", 1)[-1]

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.name, validate_tag(tag), None)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _fail(value: str, input_name: str, why: str) -> ImageReferenceError:
    return ImageReferenceError(
        f"{value!r} is not a valid image reference: {why}",
        input_name=input_name,
        hint="Use registry/name:tag or registry/name:tag@sha256:<64 lowercase hex>, with a "
        "lowercase repository path",
    )


def validate_digest(digest: str, input_name: str = "digest") -> str:
    """Return ``digest`` if it is ``algorithm:hex`` of a supported algorithm, else raise."""
    algorithm, sep, hex_part = digest.partition(":")
    expected = _DIGEST_LENGTHS.get(algorithm)
    if not sep or expected is None:
        raise ImageReferenceError(
            f"{digest!r} is not a digest: the algorithm must be one of "
            f"{', '.join(_DIGEST_LENGTHS)}",
            input_name=input_name,
            hint="Pass the digest the registry reported, e.g. sha256:<64 lowercase hex>",
        )
    if len(hex_part) != expected or not _HEX_RE.fullmatch(hex_part):
        raise ImageReferenceError(
            f"{digest!r} is not a {algorithm} digest: it needs exactly {expected} lowercase hex "
            "characters",
            input_name=input_name,
            hint="Pass the digest the registry reported",
        )
    return digest


def tag_like(text: str) -> bool:
    """Whether ``text`` has the shape of an image tag."""
    return text.isascii() and _TAG_RE.fullmatch(text) is not None


def validate_tag(tag: str, input_name: str = "tag") -> str:
    if not tag.isascii() or not _TAG_RE.fullmatch(tag):
        raise ImageReferenceError(
            f"{tag!r} is not a valid tag: 1-128 characters of [A-Za-z0-9_.-], not starting with "
            "'.' or '-'",
            input_name=input_name,
        )
    return tag


def validate_name(name: str, input_name: str = "image-name") -> str:
    """Validate a repository name (with or without domain), e.g. ``registry:5000/team/app``."""
    if not name.isascii() or not _NAME_RE.fullmatch(name):
        raise _fail(name, input_name, "a repository name is lowercase [a-z0-9] components "
                    "joined by '.', '_', '__' or '-', separated by '/'")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(name, input_name, f"the name is longer than {NAME_TOTAL_LENGTH_MAX} characters")
    return name


def parse_reference(value: str, input_name: str = "image") -> ImageReference:
    """Parse ``value`` as a full image reference or raise :class:`ImageReferenceError`."""
    if not value:
        raise _fail(value, input_name, "it is empty")
    if not value.isascii():
        raise _fail(value, input_name, "it contains non-ASCII characters")
    match = _REFERENCE_RE.fullmatch(value)
    if match is None:
        if value.lower() != value and _REFERENCE_RE.fullmatch(value.lower()):
            raise _fail(value, input_name, "the repository path must be lowercase")
        raise _fail(value, input_name, "it does not match name[:tag][@digest]")
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(value, input_name, f"the name is longer than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest is not None:
        validate_digest(digest, input_name)
    return ImageReference(name=name, tag=tag, digest=digest)


def same_repository(a: str, b: str) -> bool:
    """Whether two repository names are one repository: Docker Hub's short forms
    (``nginx``, ``library/nginx``, ``index.docker.io/...``) are ``docker.io/library/nginx``."""
    return normalized_name(a) == normalized_name(b)


def normalized_name(name: str) -> str:
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}"
    elif first == "index.docker.io":
        name = f"docker.io/{rest}"
    host, _, path = name.partition("/")
    if host == "docker.io" and "/" not in path:
        name = f"docker.io/library/{path}"
    return name
