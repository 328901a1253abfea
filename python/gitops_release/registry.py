"""Read a registry over the OCI distribution API: tags, manifests and image configs.

Standard library only. Authentication follows the registry's ``WWW-Authenticate`` challenge:
``Basic`` sends the credentials; ``Bearer realm=…,service=…,scope=…`` fetches a token from the
realm (with the credentials, when there are any) and sends that, as the Docker CLI does. Hosts on
the loopback network are spoken to over plain HTTP (as the Docker engine allows them), others over
HTTPS. The password is only ever sent in an ``Authorization`` header and never appears in a
message.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gitops_release.errors import RegistryError

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]
REVISION_LABEL = "org.opencontainers.image.revision"
TIMEOUT = 30
MAX_TAG_PAGES = 50
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class Image:
    """A manifest (list) in the registry: its digest and its image config's labels."""

    reference: str
    digest: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def revision(self) -> str:
        return self.labels.get(REVISION_LABEL, "")


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0][1:]
    return name in {"localhost", "::1"} or name.startswith("127.")


class RegistryClient:
    """One registry host and one set of credentials."""

    def __init__(self, host: str, username: str = "", password: str = "") -> None:
        self.host = host
        self.base = f"{'http' if _loopback(host) else 'https'}://{host}"
        self._basic = (base64.b64encode(f"{username}:{password}".encode()).decode()
                       if username and password else "")
        self._auth = ""  # the Authorization header that worked last (one repository per use)

    # -- HTTP ----------------------------------------------------------------------------------
    def _open(self, url: str, headers: dict[str, str], auth: str) -> Any:
        if not url.startswith(("https://", "http://")):
            raise RegistryError(f"{url!r} is not an http(s) URL", input_name="registry")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url, headers={**headers, **({"Authorization": auth} if auth else {})})
        return urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 - http(s) only

    def _token(self, challenge: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryError(f"the registry {self.host} asked for a token from {realm!r}",
                                input_name="registry")
        url = f"{realm}?{urllib.parse.urlencode(params)}"
        try:
            with self._open(url, {}, f"Basic {self._basic}" if self._basic else "") as answer:
                data = json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RegistryError(f"the registry {self.host} gave no token: {_reason(exc)}",
                                input_name="password",
                                hint="Check the username and password") from None
        return str(data.get("token") or data.get("access_token") or "")

    def get(self, path: str, accept: str = "") -> tuple[int, bytes, dict[str, str]]:
        """GET a registry path, answering one auth challenge; (status, body, headers)."""
        url = f"{self.base}{path}"
        headers = {"Accept": accept} if accept else {}
        auth = self._auth
        for _ in range(2):
            try:
                with self._open(url, headers, auth) as answer:
                    self._auth = auth
                    return answer.status, answer.read(), {k.lower(): v for k, v in
                                                          answer.headers.items()}
            except urllib.error.HTTPError as exc:
                challenge = exc.headers.get("WWW-Authenticate", "")
                if exc.code != 401 or (auth and not challenge.lower().startswith("bearer")):
                    return exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}
                if challenge.lower().startswith("bearer"):
                    auth = f"Bearer {self._token(challenge)}"
                elif self._basic and not auth:
                    auth = f"Basic {self._basic}"
                else:
                    return exc.code, exc.read(), {}
            except (urllib.error.URLError, OSError) as exc:
                raise RegistryError(f"cannot reach the registry {self.host}: {_reason(exc)}",
                                    input_name="registry",
                                    hint="Check the registry host and port (CR_ENDPOINT)") from None
        raise RegistryError(f"the registry {self.host} refused the credentials",
                            input_name="password",
                            hint="Check the username and password (CR_USERNAME / CR_PASSWORD)")

    # -- the distribution API ------------------------------------------------------------------
    def tags(self, name: str) -> list[str]:
        """Every tag of the repository ``name`` (following ``Link`` pages), [] if it has none."""
        path: str | None = f"/v2/{name}/tags/list?n=1000"
        found: list[str] = []
        for _ in range(MAX_TAG_PAGES):
            if path is None:
                break
            status, body, headers = self.get(path)
            if status == 404:
                return found
            _check(status, self.host, f"the tags of {name}")
            found += [str(tag) for tag in json.loads(body).get("tags") or []]
            link = _NEXT_LINK.search(headers.get("link", ""))
            path = urllib.parse.urlsplit(link.group(1))._replace(scheme="", netloc="").geturl() \
                if link else None
        return found

    def manifest(self, name: str, reference: str) -> tuple[dict[str, Any], str] | None:
        """The manifest (list) and its digest, None when the reference does not exist."""
        status, body, headers = self.get(f"/v2/{name}/manifests/{reference}",
                                         ", ".join(MANIFEST_TYPES))
        if status == 404:
            return None
        _check(status, self.host, f"{name}:{reference}")
        data = json.loads(body)
        return (data if isinstance(data, dict) else {}), headers.get("docker-content-digest", "")

    def image(self, name: str, reference: str) -> Image | None:
        """The digest and labels of ``name:reference`` (of its first platform for an index)."""
        found = self.manifest(name, reference)
        if found is None:
            return None
        manifest, digest = found
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            platforms = [m for m in manifest.get("manifests", [])
                         if m.get("platform", {}).get("os") not in (None, "unknown")]
            if not platforms:
                return Image(f"{self.host}/{name}:{reference}", digest)
            single = self.manifest(name, str(platforms[0]["digest"]))
            manifest = single[0] if single else {}
        config_digest = str(manifest.get("config", {}).get("digest", ""))
        labels: dict[str, str] = {}
        if config_digest:
            status, body, _ = self.get(f"/v2/{name}/blobs/{config_digest}")
            if status == 200:
                config = json.loads(body).get("config") or {}
                labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
        return Image(f"{self.host}/{name}:{reference}", digest, labels)


def _check(status: int, host: str, what: str) -> None:
    if status in (401, 403):
        raise RegistryError(f"the registry {host} refused to show {what} ({status})",
                            input_name="password",
                            hint="Check that the account may pull this repository")
    if status != 200:
        raise RegistryError(f"the registry {host} answered {status} for {what}",
                            input_name="registry", hint="Try again; check the registry's health")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else type(exc).__name__)[:200]


def newest_first(tags: list[str]) -> Iterator[str]:
    """Timestamp tags (17 digits) newest first, then the rest in reverse order."""
    stamps = sorted((t for t in tags if t.isdigit() and len(t) == 17), reverse=True)
    yield from stamps
    yield from reversed([t for t in tags if t not in set(stamps)])
