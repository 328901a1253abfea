"""The repository_dispatch contract between the app repo (sender) and the config repo (receiver).

    event_type      new-image | new-job-image   (GitHub allows 1-100 characters)
    client_payload  at most 10 top-level keys, less than 64 KB of JSON:
        image     required  registry/name:version[@sha256:<64 hex>]   (reference grammar, tagged)
        release   required  <name>@<version>
        path      required  overlay folder relative to the config repo, no '..', no hidden parts
        digest    optional  sha256:<64 lowercase hex> of the pushed manifest (list)
        source    optional  {repository, sha, ref, run_url, deployment_id}: the audit trail;
                            deployment_id (a positive integer) is the GitHub Deployment the sender
                            created in ``repository``, whose status the receiver sets

Standard library only (plus our own reference grammar): the sender builds a payload with
:func:`build_payload`, the receiver checks what it got with :func:`parse_client_payload`, and
both give the same error for the same bad value.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from gitops_release.errors import InputError, PathError
from gitops_release.inputs import check_text
from gitops_release.reference import ImageReference, parse_reference, validate_digest

EVENT_TYPES = ("new-image", "new-job-image")
EVENT_TYPE_MAX_LENGTH = 100
MAX_TOP_LEVEL_KEYS = 10
MAX_PAYLOAD_BYTES = 64 * 1024  # the serialized client_payload must be smaller than this
PAYLOAD_KEYS = ("image", "release", "path", "digest", "source")
SOURCE_KEYS = ("repository", "sha", "ref", "run_url", "deployment_id")
SOURCE_TEXT_KEYS = SOURCE_KEYS[:4]
MAX_DEPLOYMENT_ID = 2**53 - 1  # GitHub's ids are integers that JSON readers keep exact
PATH_MAX_LENGTH = 1024
SOURCE_VALUE_MAX_LENGTH = 2048

_SEGMENT = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_RELEASE_NAME_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*", re.ASCII)
_VERSION_RE = re.compile(r"[\w][\w.+-]{0,127}", re.ASCII)
_PATH_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*", re.ASCII)
_OWNER_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", re.ASCII)
_REPO_RE = re.compile(r"[A-Za-z0-9._-]{1,100}", re.ASCII)
_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}", re.ASCII)
_REF_RE = re.compile(r"refs/[A-Za-z0-9._/+-]{1,250}", re.ASCII)


@dataclass(frozen=True)
class Source:
    """Where a release came from: repository, commit, ref and the run that built it, and the
    GitHub Deployment in that repository that the receiver reports to (None: none)."""

    repository: str = ""
    sha: str = ""
    ref: str = ""
    run_url: str = ""
    deployment_id: int | None = None

    def to_json(self) -> dict[str, str | int]:
        data: dict[str, str | int] = {key: getattr(self, key) for key in SOURCE_TEXT_KEYS
                                      if getattr(self, key)}
        if self.deployment_id is not None:
            data["deployment_id"] = self.deployment_id
        return data


@dataclass(frozen=True)
class DispatchPayload:
    """A validated client_payload."""

    image: ImageReference
    release: str
    path: str
    digest: str | None = None
    source: Source | None = None
    extra: Mapping[str, object] = field(default_factory=dict)  # unknown keys a receiver kept

    @property
    def release_name(self) -> str:
        return self.release.rpartition("@")[0]

    @property
    def release_version(self) -> str:
        return self.release.rpartition("@")[2]

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"image": str(self.image), "release": self.release,
                                   "path": self.path}
        if self.digest is not None:
            data["digest"] = self.digest
        if self.source is not None and self.source.to_json():
            data["source"] = self.source.to_json()
        data.update(self.extra)
        return data

    def serialize(self) -> str:
        """Compact JSON, as it travels and as the ``payload`` output shows it."""
        return serialize(self.to_json())


def serialize(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _text(name: str, value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise InputError(f"must be a string, not {type(value).__name__}", input_name=name)
    return check_text(name, value, max_length=max_length)


def validate_event_type(value: str, input_name: str = "event-type") -> str:
    """An event type of the contract (GitHub itself takes any 1-100 characters)."""
    _text(input_name, value, EVENT_TYPE_MAX_LENGTH)
    if not value:
        raise InputError("is empty", input_name=input_name,
                         hint=f"Use one of {', '.join(EVENT_TYPES)}")
    if value not in EVENT_TYPES:
        raise InputError(f"{value!r} is not an event type of the config repo's receivers",
                         input_name=input_name, hint=f"Use one of {', '.join(EVENT_TYPES)}")
    return value


def validate_repository(value: str, input_name: str = "repository") -> tuple[str, str]:
    """``owner/name`` as GitHub spells them → (owner, name)."""
    _text(input_name, value, 140)
    owner, sep, name = value.partition("/")
    if (not sep or not _OWNER_RE.fullmatch(owner) or owner.endswith("-")
            or not _REPO_RE.fullmatch(name) or name in {".", ".."}):
        raise InputError(f"{value!r} is not a repository name", input_name=input_name,
                         hint="Use owner/name, e.g. acme/k8s-configurations")
    return owner, name


def validate_release(value: str, input_name: str = "release") -> str:
    """``<name>@<version>``: the name as in the image (parts of [A-Za-z0-9._-] joined by '/'), the
    version as an image tag (1-128 of [A-Za-z0-9_.+-], not starting with '.', '-' or '+')."""
    _text(input_name, value, 512)
    name, sep, version = value.rpartition("@")
    if not sep or not _RELEASE_NAME_RE.fullmatch(name) or not _VERSION_RE.fullmatch(version):
        raise InputError(f"{value!r} is not a release", input_name=input_name,
                         hint="Use <name>@<version>, e.g. my-api@v1.2.3 or "
                              "my-api@20261126101500123")
    return value


def validate_path(value: str, input_name: str = "path") -> str:
    """A folder relative to the config repo's root: '/'-separated parts, none of them empty,
    '.', '..' or hidden (so never .git), no backslash, no absolute path."""
    _text(input_name, value, PATH_MAX_LENGTH)
    hint = "Use a relative folder of the config repo, e.g. apps/my-api/overlays/dev"
    if not value:
        raise PathError("is empty", input_name=input_name, hint=hint)
    if value.startswith("/"):
        raise PathError(f"{value!r} is an absolute path", input_name=input_name, hint=hint)
    for part in value.split("/"):
        if part == "..":
            raise PathError(f"{value!r} leaves the config repo ('..')", input_name=input_name,
                            hint=hint)
        if not _PATH_PART_RE.fullmatch(part):
            raise PathError(
                f"{value!r} has the part {part!r}: parts are [A-Za-z0-9._-], not empty, not "
                "starting with '.' or '-'", input_name=input_name, hint=hint)
    return value


def validate_payload_digest(value: str, input_name: str = "digest") -> str:
    if not value.startswith("sha256:"):
        raise InputError(f"{value!r} is not a sha256 digest", input_name=input_name,
                         hint="Pass the digest the registry reported, sha256:<64 lowercase hex>")
    return validate_digest(value, input_name)


def validate_image(value: str, input_name: str = "image") -> ImageReference:
    """A full image reference that names its version (a tag); a digest, if any, is sha256."""
    _text(input_name, value, 512)
    image = parse_reference(value, input_name)
    if image.tag is None:
        raise InputError(f"{value!r} has no tag", input_name=input_name,
                         hint="Use registry/name:version, optionally followed by @sha256:<hex>")
    if image.digest is not None:
        validate_payload_digest(image.digest, input_name)
    return image


def _validate_source_value(key: str, value: str, input_name: str) -> None:
    name = f"{input_name}.{key}"
    _text(name, value, SOURCE_VALUE_MAX_LENGTH)
    if key == "repository":
        validate_repository(value, name)
    elif key == "sha" and not _SHA_RE.fullmatch(value):
        raise InputError(f"{value!r} is not a commit id", input_name=name,
                         hint="Use the full 40 (or 64) lowercase hex commit id")
    elif key == "ref" and not _REF_RE.fullmatch(value):
        raise InputError(f"{value!r} is not a full ref name", input_name=name,
                         hint="Use e.g. refs/heads/main or refs/tags/v1.2.3")
    elif key == "run_url":
        try:
            url = urllib.parse.urlsplit(value)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            url = urllib.parse.urlsplit("")
        if url.scheme not in {"http", "https"} or not url.netloc or " " in value:
            raise InputError(f"{value!r} is not an http(s) URL", input_name=name)


def validate_deployment_id(value: object, input_name: str = "source.deployment_id") -> int:
    """A GitHub Deployment id: a JSON integer from 1 to 2^53-1 (not a string, not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"must be an integer, not {type(value).__name__}", input_name=input_name,
                         hint="Send the id GitHub gave the deployment, e.g. 1234567890")
    if not 1 <= value <= MAX_DEPLOYMENT_ID:
        raise InputError(f"{value} is not a deployment id (1 to 2^53-1)", input_name=input_name)
    return value


def parse_source_text(text: str, input_name: str = "source") -> Source:
    """The ``source`` action input: a JSON object as text."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InputError(f"is not JSON ({exc})", input_name=input_name,
                         hint='Use {"repository": "o/r", "sha": "…", "ref": "refs/…", '
                              '"run_url": "https://…"}') from None
    return parse_source(value, input_name)


def parse_source(value: object, input_name: str = "source") -> Source:
    """A source object: only the known keys; deployment_id an integer, the others strings."""
    if not isinstance(value, dict):
        raise InputError("must be a JSON object", input_name=input_name,
                         hint=f"Use an object with the keys {', '.join(SOURCE_KEYS)}")
    unknown = sorted(str(key) for key in value if key not in SOURCE_KEYS)
    if unknown:
        raise InputError(f"has the unknown key {unknown[0]!r}", input_name=input_name,
                         hint=f"Known keys: {', '.join(SOURCE_KEYS)}")
    for key, item in value.items():
        if key == "deployment_id":
            validate_deployment_id(item, f"{input_name}.{key}")
            continue
        if not isinstance(item, str):
            raise InputError(f"must be a string, not {type(item).__name__}",
                             input_name=f"{input_name}.{key}")
        _validate_source_value(key, item, input_name)
    return Source(**value)


def default_source(environ: Mapping[str, str]) -> tuple[Source | None, list[str]]:
    """The source of the running workflow, from the runner's ``GITHUB_*`` variables, and a note
    for each variable left out because it is not what GitHub sets (a local runner may differ):
    the audit trail is not worth failing a release for."""
    repository = environ.get("GITHUB_REPOSITORY", "")
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_id = environ.get("GITHUB_RUN_ID", "")
    values = {"repository": repository, "sha": environ.get("GITHUB_SHA", ""),
              "ref": environ.get("GITHUB_REF", ""),
              "run_url": f"{server}/{repository}/actions/runs/{run_id}" if run_id else ""}
    kept: dict[str, str] = {}
    notes: list[str] = []
    for key, value in values.items():
        if not value:
            continue
        if key == "run_url" and "repository" not in kept:
            continue  # built from the repository, which was left out
        try:
            _validate_source_value(key, value, "source")
        except InputError as exc:
            notes.append(f"source.{key} left out of the payload: {exc.message}")
            continue
        kept[key] = value
    source = Source(repository=kept.get("repository", ""), sha=kept.get("sha", ""),
                    ref=kept.get("ref", ""), run_url=kept.get("run_url", ""))
    return (source if kept else None), notes


def check_size(data: Mapping[str, object], input_name: str = "client_payload") -> str:
    """≤ 10 top-level keys and < 64 KB serialized; returns the serialized JSON."""
    if len(data) > MAX_TOP_LEVEL_KEYS:
        raise InputError(f"has {len(data)} top-level keys, more than GitHub's "
                         f"{MAX_TOP_LEVEL_KEYS}", input_name=input_name)
    text = serialize(data)
    size = len(text.encode("utf-8"))
    if size >= MAX_PAYLOAD_BYTES:
        raise InputError(f"is {size} bytes of JSON; it must be smaller than {MAX_PAYLOAD_BYTES}",
                         input_name=input_name)
    return text


def build_payload(*, image: str, release: str, path: str, digest: str = "",
                  source: Source | None = None) -> DispatchPayload:
    """The sender's side: validate action inputs into a payload (input names as in action.yml)."""
    reference = validate_image(image)
    validate_release(release)
    validate_path(path)
    if digest:
        validate_payload_digest(digest)
        if reference.digest is not None and reference.digest != digest:
            raise InputError(f"{digest!r} differs from the digest in the image {image!r}",
                             input_name="digest", hint="Pass one digest, or the same in both")
    payload = DispatchPayload(image=reference, release=release, path=path,
                              digest=digest or None, source=source)
    check_size(payload.to_json())
    return payload


def parse_client_payload(data: object, *, allow_unknown: bool = True,
                         prefix: str = "client_payload.") -> DispatchPayload:
    """The receiver's side: validate a received client_payload. Errors name the key as
    ``client_payload.<key>``; unknown keys are kept in ``extra`` (a newer sender) unless refused."""
    where = prefix.rstrip(".") or "client_payload"
    if not isinstance(data, dict):
        raise InputError("must be a JSON object", input_name=where)
    check_size(data, where)
    unknown = sorted(str(key) for key in data if key not in PAYLOAD_KEYS)
    if unknown and not allow_unknown:
        raise InputError(f"has the unknown key {unknown[0]!r}", input_name=where,
                         hint=f"Known keys: {', '.join(PAYLOAD_KEYS)}")
    for key in ("image", "release", "path"):
        if key not in data:
            raise InputError("is missing", input_name=f"{prefix}{key}",
                             hint="The sender must send image, release and path")
    image = validate_image(_text(f"{prefix}image", data["image"], 512), f"{prefix}image")
    release = validate_release(_text(f"{prefix}release", data["release"], 512), f"{prefix}release")
    path = validate_path(_text(f"{prefix}path", data["path"], PATH_MAX_LENGTH), f"{prefix}path")
    digest = None
    if data.get("digest") not in (None, ""):
        digest = validate_payload_digest(_text(f"{prefix}digest", data["digest"], 80),
                                         f"{prefix}digest")
    source = parse_source(data["source"], f"{prefix}source") if data.get("source") else None
    return DispatchPayload(image=image, release=release, path=path, digest=digest, source=source,
                           extra={key: data[key] for key in unknown})
