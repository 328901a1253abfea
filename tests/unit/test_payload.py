"""The client_payload contract: building (sender) and parsing (receiver), one table per field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitops_release.errors import ImageReferenceError, InputError, PathError
from gitops_release.payload import (
    MAX_PAYLOAD_BYTES,
    Source,
    build_payload,
    check_size,
    default_source,
    parse_client_payload,
    parse_source_text,
    validate_event_type,
    validate_path,
    validate_release,
    validate_repository,
)

DIGEST = "sha256:" + "ab" * 32
SHA = "0123456789abcdef0123456789abcdef01234567"
GOOD = {"image": "ghcr.io/acme/my-api:v1.2.3", "release": "my-api@v1.2.3",
        "path": "apps/my-api/overlays/prod"}


def test_build_payload_exact_json() -> None:
    source = Source(repository="acme/my-api", sha=SHA, ref="refs/tags/v1.2.3",
                    run_url="https://github.com/acme/my-api/actions/runs/42")
    payload = build_payload(**GOOD, digest=DIGEST, source=source)
    assert payload.to_json() == {**GOOD, "digest": DIGEST, "source": {
        "repository": "acme/my-api", "sha": SHA, "ref": "refs/tags/v1.2.3",
        "run_url": "https://github.com/acme/my-api/actions/runs/42"}}
    assert payload.serialize() == json.dumps(payload.to_json(), separators=(",", ":"))
    assert (payload.release_name, payload.release_version) == ("my-api", "v1.2.3")


def test_optional_keys_left_out() -> None:
    assert build_payload(**GOOD).to_json() == GOOD


@pytest.mark.parametrize(("field", "value", "error", "message"), [
    ("image", "ghcr.io/acme/my-api", InputError, "has no tag"),
    ("image", "ghcr.io/Acme/my-api:v1", ImageReferenceError, "must be lowercase"),
    ("image", "ghcr.io/acme/my-api:v1;rm -rf /", ImageReferenceError, "does not match"),
    ("image", "ghcr.io/acme/my-api:v1\n", InputError, "control character"),
    ("image", "ghcr.io/acme/my-api:v1@sha512:" + "a" * 128, InputError, "not a sha256 digest"),
    ("image", "", ImageReferenceError, "it is empty"),
    ("release", "my-api", InputError, "is not a release"),
    ("release", "my-api@", InputError, "is not a release"),
    ("release", "@v1", InputError, "is not a release"),
    ("release", "my api@v1", InputError, "is not a release"),
    ("release", "my-api@v1$(id)", InputError, "is not a release"),
    ("release", "my-api@-v1", InputError, "is not a release"),
    ("path", "/etc/passwd", PathError, "absolute path"),
    ("path", "apps/../../etc", PathError, "leaves the config repo"),
    ("path", "..", PathError, "leaves the config repo"),
    ("path", "apps/.git/hooks", PathError, "has the part '.git'"),
    ("path", "apps//dev", PathError, "has the part ''"),
    ("path", "apps/dev/", PathError, "has the part ''"),
    ("path", "./apps", PathError, "has the part '.'"),
    ("path", "apps\\dev", PathError, "has the part"),
    ("path", "apps/$(id)", PathError, "has the part"),
    ("path", "", PathError, "is empty"),
    ("path", "a/" * 600, InputError, "more than 1024"),
    ("digest", "sha256:abc", ImageReferenceError, "exactly 64 lowercase hex"),
    ("digest", "md5:" + "a" * 32, InputError, "not a sha256 digest"),
    ("digest", "sha256:" + "AB" * 32, ImageReferenceError, "lowercase hex"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_build_payload_rejects(field: str, value: str, error: type[Exception],
                               message: str) -> None:
    values: dict[str, Any] = {**GOOD, field: value}
    with pytest.raises(error, match=f"input '{field}'") as caught:
        build_payload(**values)
    assert message in str(caught.value)


def test_digest_must_agree_with_image_digest() -> None:
    other = "sha256:" + "cd" * 32
    with pytest.raises(InputError, match="differs from the digest in the image"):
        build_payload(**{**GOOD, "image": f"{GOOD['image']}@{DIGEST}"}, digest=other)
    assert build_payload(**{**GOOD, "image": f"{GOOD['image']}@{DIGEST}"},
                         digest=DIGEST).digest == DIGEST


@pytest.mark.parametrize("value", ["new-image", "new-job-image"])
def test_event_types(value: str) -> None:
    assert validate_event_type(value) == value


@pytest.mark.parametrize(("value", "message"), [
    ("", "is empty"), ("x" * 101, "more than 100"), ("deploy", "not an event type"),
    ("new-image\n", "control character")], ids=["empty", "too-long", "unknown", "newline"])
def test_event_type_rejects(value: str, message: str) -> None:
    with pytest.raises(InputError, match="input 'event-type'") as caught:
        validate_event_type(value)
    assert message in str(caught.value)


@pytest.mark.parametrize("value", ["acme/k8s-configurations", "a/b", "Acme-1/repo.name_x"])
def test_repository_accepts(value: str) -> None:
    assert validate_repository(value) == tuple(value.split("/"))


@pytest.mark.parametrize("value", ["acme", "acme/", "/repo", "acme/repo/x", "ac me/repo",
                                   "-acme/repo", "acme/..", "acme/r?x", "a" * 40 + "/r"])
def test_repository_rejects(value: str) -> None:
    with pytest.raises(InputError, match="is not a repository name"):
        validate_repository(value)


@pytest.mark.parametrize("value", ["my-api@v1.2.3", "my-api@20261126101500123", "team/api@1.0.0+b1",
                                   "My_Api@latest"])
def test_release_accepts(value: str) -> None:
    assert validate_release(value) == value


@pytest.mark.parametrize("value", ["apps/my-api/overlays/dev", "x", "apps/a_b/overlays/prod-eu"])
def test_path_accepts(value: str) -> None:
    assert validate_path(value) == value


@pytest.mark.parametrize(("text", "message"), [
    ("{", "is not JSON"),
    ("[]", "must be a JSON object"),
    ('{"repo": "a/b"}', "unknown key 'repo'"),
    ('{"sha": 1}', "must be a string"),
    ('{"sha": "abc"}', "is not a commit id"),
    ('{"ref": "main"}', "is not a full ref name"),
    ('{"run_url": "javascript:alert(1)"}', "is not an http(s) URL"),
    ('{"repository": "nope"}', "is not a repository name"),
], ids=["broken", "array", "unknown-key", "not-string", "short-sha", "short-ref", "bad-url",
        "bad-repo"])
def test_source_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError, match="input 'source") as caught:
        parse_source_text(text)
    assert message in str(caught.value)


def test_default_source_from_runner_variables() -> None:
    env = {"GITHUB_REPOSITORY": "acme/my-api", "GITHUB_SHA": SHA, "GITHUB_REF": "refs/heads/main",
           "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42"}
    assert default_source(env) == (Source("acme/my-api", SHA, "refs/heads/main",
                                          "https://github.com/acme/my-api/actions/runs/42"), [])
    assert default_source({}) == (None, [])


def test_default_source_leaves_out_what_is_not_githubs_shape() -> None:
    env = {"GITHUB_REPOSITORY": "/tmp/repos/app.git", "GITHUB_SHA": SHA,
           "GITHUB_REF": "refs/heads/main"}
    source, notes = default_source(env)
    assert source == Source(sha=SHA, ref="refs/heads/main")
    assert notes == ["source.repository left out of the payload: '/tmp/repos/app.git' is not a "
                     "repository name"]


def test_size_limits() -> None:
    with pytest.raises(InputError, match="11 top-level keys, more than GitHub's 10"):
        check_size({f"k{i}": i for i in range(11)})
    check_size({f"k{i}": i for i in range(10)})
    big = {"x": "a" * (MAX_PAYLOAD_BYTES - 8)}  # {"x":"…"} is 8 bytes of overhead → 64 KiB
    with pytest.raises(InputError, match="must be smaller than 65536"):
        check_size(big)
    check_size({"x": "a" * (MAX_PAYLOAD_BYTES - 9)})


def test_receiver_parses_what_the_sender_builds() -> None:
    sent = build_payload(**GOOD, digest=DIGEST, source=Source(repository="acme/my-api", sha=SHA))
    received = parse_client_payload(json.loads(sent.serialize()))
    assert received == sent


@pytest.mark.parametrize(("data", "message"), [
    ([], "input 'client_payload': must be a JSON object"),
    ({"release": "a@1", "path": "p"}, "input 'client_payload.image': is missing"),
    ({**GOOD, "release": 5}, "input 'client_payload.release': must be a string"),
    ({**GOOD, "path": "../x"}, "input 'client_payload.path'"),
    ({**GOOD, "source": {"sha": "x"}}, "input 'client_payload.source.sha'"),
    ({**GOOD, **{f"k{i}": 1 for i in range(8)}}, "11 top-level keys"),
], ids=["not-object", "missing-image", "release-type", "path-escape", "source-sha", "too-many"])
def test_receiver_rejects(data: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_client_payload(data)
    assert message in str(caught.value)


def test_receiver_keeps_or_refuses_unknown_keys() -> None:
    assert parse_client_payload({**GOOD, "team": "a"}).extra == {"team": "a"}
    with pytest.raises(InputError, match="unknown key 'team'"):
        parse_client_payload({**GOOD, "team": "a"}, allow_unknown=False)


def test_source_carries_the_deployment_id_as_an_integer() -> None:
    source = parse_source_text('{"repository": "acme/my-api", "deployment_id": 1234567890}')
    assert source.deployment_id == 1234567890
    payload = build_payload(**GOOD, source=source)
    assert payload.serialize().endswith('"source":{"repository":"acme/my-api",'
                                        '"deployment_id":1234567890}}')
    received = parse_client_payload(json.loads(payload.serialize()), allow_unknown=False)
    assert received.source == source


@pytest.mark.parametrize(("value", "message"), [
    ('"42"', "input 'source.deployment_id': must be an integer, not str"),
    ("true", "input 'source.deployment_id': must be an integer, not bool"),
    ("4.2", "input 'source.deployment_id': must be an integer, not float"),
    ("0", "input 'source.deployment_id': 0 is not a deployment id"),
    ("-1", "input 'source.deployment_id': -1 is not a deployment id"),
    (str(2**53), f"input 'source.deployment_id': {2**53} is not a deployment id"),
], ids=["string", "bool", "float", "zero", "negative", "too-big"])
def test_deployment_id_rejects(value: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_source_text(f'{{"deployment_id": {value}}}')
    assert str(caught.value).startswith(message)
    with pytest.raises(InputError, match=r"client_payload\.source\.deployment_id"):
        parse_client_payload({**GOOD, "source": {"deployment_id": json.loads(value)}})
