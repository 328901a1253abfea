"""Services the end-to-end tests run for real: the Docker engine and a registry with htpasswd auth."""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_ready() -> bool:
    result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                            capture_output=True, text=True, check=False)
    return result.returncode == 0


def ensure_docker_engine() -> None:
    """Reuse a running engine; otherwise start one the way ./scripts/setup does."""
    if docker_ready():
        return
    subprocess.run([str(REPO_ROOT / "scripts" / "setup")], check=True)
    if not docker_ready():
        raise RuntimeError("the Docker engine is not running; see /var/log/dockerd.log")


@dataclass(frozen=True)
class Registry:
    """A running registry on 127.0.0.1 with one htpasswd user."""

    host: str
    username: str
    password: str
    root: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _get(self, path: str, accept: str = "") -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request(self.url + path)
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def tags(self, repository: str) -> list[str]:
        import json

        status, body, _ = self._get(f"/v2/{repository}/tags/list")
        if status == 404:
            return []
        assert status == 200, (status, body)
        return sorted(json.loads(body).get("tags") or [])

    def manifest(self, repository: str, reference: str) -> tuple[dict[str, object], str]:
        """The manifest (list) JSON and its digest (Docker-Content-Digest)."""
        import json

        accept = ", ".join([
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ])
        status, body, headers = self._get(f"/v2/{repository}/manifests/{reference}", accept)
        assert status == 200, (status, body)
        digest = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest", "")
        return json.loads(body), digest

    def platforms(self, repository: str, reference: str) -> set[str]:
        """The os/arch pairs of an index, leaving out attestation manifests."""
        index, _ = self.manifest(repository, reference)
        found = set()
        for entry in index.get("manifests", []):  # type: ignore[union-attr]
            platform = entry.get("platform", {})
            if platform.get("os") == "unknown":
                continue
            found.add(f"{platform.get('os')}/{platform.get('architecture')}")
        return found


@contextlib.contextmanager
def run_registry(workdir: Path, username: str = "ci", password: str = "s3cret-registry-pw",
                 port: int | None = None) -> Iterator[Registry]:
    """Start `docker-registry serve` with htpasswd auth on 127.0.0.1; stop it on exit."""
    if shutil.which("docker-registry") is None or shutil.which("htpasswd") is None:
        raise RuntimeError("docker-registry and htpasswd are missing: run ./scripts/setup")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    htpasswd = workdir / "htpasswd"
    result = subprocess.run(["htpasswd", "-Bbn", username, password], capture_output=True,
                            text=True, check=True)
    htpasswd.write_text(result.stdout, encoding="utf-8")
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: gitops-release-tests\n    path: {htpasswd}\n",
        encoding="utf-8",
    )
    log = (workdir / "registry.log").open("wb")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)
    registry = Registry(host=f"127.0.0.1:{port}", username=username, password=password,
                        root=workdir)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{registry.url}/v2/", timeout=1)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"registry did not start; see {workdir / 'registry.log'}")
            time.sleep(0.1)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
