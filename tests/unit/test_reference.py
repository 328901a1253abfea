"""Image references against the distribution/reference grammar: a table of named cases."""

from __future__ import annotations

import pytest

from gitops_release.errors import ImageReferenceError
from gitops_release.reference import parse_reference, validate_digest, validate_name, validate_tag

SHA = "sha256:" + "a" * 64

VALID = [
    ("bare-name", "app", "app", None, None),
    ("name-with-tag", "app:v1.2.3", "app", "v1.2.3", None),
    ("registry-port", "127.0.0.1:5001/team/app:v1", "127.0.0.1:5001/team/app", "v1", None),
    ("localhost", "localhost/app:1", "localhost/app", "1", None),
    ("domain", "ghcr.io/acme/api:20251127093000123", "ghcr.io/acme/api", "20251127093000123",
     None),
    ("uppercase-domain", "Registry.Example.com/app:v1", "Registry.Example.com/app", "v1", None),
    ("ipv6", "[::1]:5000/app:v1", "[::1]:5000/app", "v1", None),
    ("digest-only", f"app@{SHA}", "app", None, SHA),
    ("tag-and-digest", f"r.io/app:v1@{SHA}", "r.io/app", "v1", SHA),
    ("separators", "r.io/a.b_c__d-e---f/g:x", "r.io/a.b_c__d-e---f/g", "x", None),
    ("tag-underscore-start", "app:_x", "app", "_x", None),
    ("tag-128", "app:" + "t" * 128, "app", "t" * 128, None),
    ("sha512", "app@sha512:" + "0" * 128, "app", None, "sha512:" + "0" * 128),
    ("deep-path", "r.io/" + "/".join(["a"] * 20) + ":v", "r.io/" + "/".join(["a"] * 20), "v",
     None),
    ("name-255", "a" * 255, "a" * 255, None, None),
]


@pytest.mark.parametrize(("value", "name", "tag", "digest"),
                         [case[1:] for case in VALID], ids=[case[0] for case in VALID])
def test_valid_references(value: str, name: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(value)
    assert (ref.name, ref.tag, ref.digest) == (name, tag, digest)
    assert str(ref) == value


INVALID = [
    ("empty", ""),
    ("uppercase-path", "r.io/App:v1"),
    ("space", "r.io/app :v1"),
    ("trailing-newline", "r.io/app:v1\n"),
    ("leading-space", " r.io/app:v1"),
    ("tag-dot-start", "app:.v1"),
    ("tag-dash-start", "app:-v1"),
    ("tag-129", "app:" + "t" * 129),
    ("tag-empty", "app:"),
    ("tag-slash", "app:v1/x"),
    ("double-colon", "app:v1:v2"),
    ("digest-short", "app@sha256:" + "a" * 63),
    ("digest-long", "app@sha256:" + "a" * 65),
    ("digest-upper-hex", "app@sha256:" + "A" * 64),
    ("digest-unknown-algo", "app@md5:" + "a" * 32),
    ("digest-empty", "app@"),
    ("separator-start", "r.io/-app:v1"),
    ("separator-end", "r.io/app-:v1"),
    ("triple-underscore", "r.io/a___b:v1"),
    ("double-dot", "r.io/a..b:v1"),
    ("empty-component", "r.io//app:v1"),
    ("trailing-slash", "r.io/app/:v1"),
    ("name-256", "a" * 256),
    ("non-ascii-tag", "app:v1\u00e9"),
    ("cyrillic-a", "r.io/\u0430pp:v1"),
    ("fullwidth-colon", "app\uff1av1"),
    ("shell-subst", "app:$(id)"),
    ("backtick", "app:`id`"),
    ("semicolon", "app:v1;rm"),
    ("nul", "app:v1\x00"),
    ("workflow-command", "::set-output name=x::y"),
    ("scheme", "https://r.io/app:v1"),
    ("domain-dash-start", "-r.io/app:v1"),
]


@pytest.mark.parametrize("value", [case[1] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_references(value: str) -> None:
    with pytest.raises(ImageReferenceError) as info:
        parse_reference(value, "image")
    assert "input 'image'" in str(info.value)


def test_domain_and_path() -> None:
    ref = parse_reference("127.0.0.1:5001/team/app:v1")
    assert (ref.domain, ref.path, ref.short_name) == ("127.0.0.1:5001", "team/app", "app")
    assert parse_reference("team/app").domain == ""
    assert parse_reference("localhost/app").domain == "localhost"
    assert parse_reference("UPPER/app").domain == "UPPER"


def test_with_tag_drops_digest() -> None:
    ref = parse_reference(f"r.io/app:v1@{SHA}").with_tag("v2")
    assert str(ref) == "r.io/app:v2"


@pytest.mark.parametrize("tag", ["", ".x", "x" * 129, "a b", "v1\n"], ids=repr)
def test_validate_tag_rejects(tag: str) -> None:
    with pytest.raises(ImageReferenceError):
        validate_tag(tag)


@pytest.mark.parametrize("digest", ["sha256", "sha256:", "sha256:" + "g" * 64, "SHA256:" + "a" * 64],
                         ids=repr)
def test_validate_digest_rejects(digest: str) -> None:
    with pytest.raises(ImageReferenceError):
        validate_digest(digest)


def test_validate_name() -> None:
    assert validate_name("127.0.0.1:5001/app") == "127.0.0.1:5001/app"
    with pytest.raises(ImageReferenceError):
        validate_name("app:v1")
