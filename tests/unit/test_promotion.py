"""Promotion by digest: the registry client and the search for the image built from a commit,
against a real registry (docker-registry with htpasswd auth) holding images pushed through the
distribution API. The re-tag itself (buildx imagetools) runs end to end in
tests/e2e/test_release_workflow.py."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_release.errors import InputError, RegistryError
from gitops_release.promotion import SEARCH_LIMIT, find_build, parse_mode, wanted
from gitops_release.registry import RegistryClient, newest_first
from tests.harness.services import Registry, run_registry

SHA = "1" * 40
OTHER = "2" * 40
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(tmp_path / "registry") as running:
        yield running


def _request(reg: Registry, method: str, url: str, data: bytes = b"",
             content_type: str = "") -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url if url.startswith("http") else reg.url + url,
                                     data=data or None, method=method)
    token = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers)


def _blob(reg: Registry, name: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _, headers = _request(reg, "POST", f"/v2/{name}/blobs/uploads/")
    location = headers["Location"]
    sep = "&" if "?" in location else "?"
    _request(reg, "PUT", f"{location}{sep}digest={digest}", data, "application/octet-stream")
    return digest


def push_image(reg: Registry, name: str, tag: str, revision: str | None,
               platforms: tuple[str, ...] = ("amd64", "arm64")) -> str:
    """An OCI index of ``platforms`` (plus an attestation-like entry) whose configs carry the
    revision label; returns the index digest."""
    entries = []
    for arch in platforms:
        labels = {"org.opencontainers.image.revision": revision} if revision else {}
        config = json.dumps({"architecture": arch, "os": "linux", "config": {"Labels": labels},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        config_digest = _blob(reg, name, config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
            "size": len(config)}, "layers": []}).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        _request(reg, "PUT", f"/v2/{name}/manifests/{digest}", manifest, MANIFEST)
        entries.append({"mediaType": MANIFEST, "digest": digest, "size": len(manifest),
                        "platform": {"architecture": arch, "os": "linux"}})
    entries.append({**entries[0], "platform": {"architecture": "unknown", "os": "unknown"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}).encode()
    _request(reg, "PUT", f"/v2/{name}/manifests/{tag}", index, INDEX)
    return "sha256:" + hashlib.sha256(index).hexdigest()


def client(reg: Registry, password: str | None = None) -> RegistryClient:
    return RegistryClient(reg.host, reg.username, reg.password if password is None else password)


@pytest.mark.parametrize(("mode", "ref", "expected"), [
    ("auto", "refs/tags/v1.2.3", True),
    ("auto", "refs/heads/main", False),
    ("always", "refs/heads/main", True),
    ("never", "refs/tags/v1.2.3", False),
], ids=["auto-tag", "auto-branch", "always-branch", "never-tag"])
def test_when_to_promote(mode: str, ref: str, expected: bool) -> None:
    assert wanted(parse_mode(mode), ref) is expected


def test_unknown_mode_names_the_input() -> None:
    with pytest.raises(InputError, match="input 'promote': 'sometimes' is not a promotion mode"):
        parse_mode("sometimes")


def test_newest_timestamps_first() -> None:
    tags = ["latest", "20260101000000000", "v1.0.0", "20261126101500123", "sha-abc"]
    assert list(newest_first(tags)) == ["20261126101500123", "20260101000000000", "sha-abc",
                                        "v1.0.0", "latest"]


def test_finds_the_build_of_the_commit_by_its_revision_label(registry: Registry) -> None:
    older = push_image(registry, "web-api", "20261126090000000", SHA)
    push_image(registry, "web-api", "20261126100000000", OTHER)  # a later commit's build
    push_image(registry, "web-api", "latest", OTHER)

    found = find_build(client(registry), "web-api", SHA, skip=("v1.2.3", "latest"))

    assert found is not None
    assert (found.tag, found.by, found.image.digest) == ("20261126090000000", "revision label",
                                                        older)
    assert found.image.revision == SHA
    assert found.image.reference == f"{registry.host}/web-api:20261126090000000"


def test_a_sha_tag_wins_and_needs_no_label(registry: Registry) -> None:
    push_image(registry, "web-api", "20261126100000000", SHA)
    tagged = push_image(registry, "web-api", f"sha-{SHA[:7]}", None, platforms=("amd64",))

    found = find_build(client(registry), "web-api", SHA)

    assert found is not None and (found.by, found.image.digest) == ("sha tag", tagged)


def test_a_sha_tag_with_another_revision_is_not_taken(registry: Registry) -> None:
    push_image(registry, "web-api", f"sha-{SHA[:7]}", OTHER)
    assert find_build(client(registry), "web-api", SHA) is None


def test_no_build_of_the_commit_means_none(registry: Registry) -> None:
    push_image(registry, "web-api", "20261126100000000", OTHER)
    assert find_build(client(registry), "web-api", SHA) is None
    assert find_build(client(registry), "never-pushed", SHA) is None
    assert find_build(client(registry), "web-api", "") is None


def test_the_search_stops_after_the_limit(registry: Registry) -> None:
    push_image(registry, "web-api", "20250101000000000", SHA, platforms=("amd64",))
    for i in range(SEARCH_LIMIT):
        push_image(registry, "web-api", f"2026010100000{i:04d}", OTHER, platforms=("amd64",))
    seen: list[str] = []

    assert find_build(client(registry), "web-api", SHA, log=seen.append) is None
    assert seen == [f"looked at the newest {SEARCH_LIMIT} images of web-api; none was built "
                    f"from {SHA[:12]}"]


def test_wrong_password_is_a_registry_error_naming_the_password(registry: Registry) -> None:
    push_image(registry, "web-api", "20261126100000000", SHA)
    with pytest.raises(RegistryError, match="input 'password'") as caught:
        client(registry, password="wrong").tags("web-api")
    assert "wrong" not in str(caught.value)


def test_unreachable_registry_names_the_registry() -> None:
    with pytest.raises(RegistryError, match="input 'registry': cannot reach the registry"):
        RegistryClient("127.0.0.1:9").tags("web-api")
