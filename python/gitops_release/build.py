"""Build and push a multi-platform image with ``docker buildx`` through python-on-whales.

Credentials live in a private Docker config directory (under ``RUNNER_TEMP``) for the duration of
one build and are removed with it, so nothing is left in ``~/.docker``. The password reaches
``docker login`` on stdin only.

Builder choice:

* the engine uses the containerd image store → its default ``docker`` builder builds and pushes
  several platforms at once; it is used as is (no builder image to pull);
* otherwise (GitHub's hosted runners by default) a ``docker-container`` builder is created for the
  build (it runs the ``moby/buildkit`` image) and removed afterwards.

Platforms the host cannot execute need QEMU for ``RUN`` steps: on GitHub-hosted runners
(``RUNNER_ENVIRONMENT=github-hosted``), when ``binfmt_misc`` has no handler for one, the
``tonistiigi/binfmt`` image installs them (as docker/setup-qemu-action does); if that fails the
build still runs (a Dockerfile without ``RUN`` needs no emulation), with a warning. Elsewhere
(self-hosted runners, act) nothing is pulled: the log says which handlers are missing.
"""

from __future__ import annotations

import collections
import json
import platform
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_release.errors import BuildError, RegistryError

if TYPE_CHECKING:
    from python_on_whales import DockerClient

BINFMT_IMAGE = "tonistiigi/binfmt:latest"
BUILDER_PREFIX = "gitops-release"
_QEMU_NAMES = {"amd64": "x86_64", "arm64": "aarch64", "arm": "arm", "386": "i386",
               "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x",
               "mips64le": "mips64el", "loong64": "loongarch64"}
_HOST_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# Whole words: a digest in the build's output (sha256:...d7540167...) holds "401" as often
# as not, and that made a registry's 500 read as refused credentials.
_AUTH_RE = re.compile(r"\b(?:unauthorized|401|authentication required|incorrect username or "
                      r"password|denied|403 forbidden)\b")
_NETWORK_RE = re.compile(r"\b(?:connection refused|no such host|i/o timeout|timeout|tls:|server "
                         r"gave http response|network is unreachable|eof)(?:\b|(?<=:))")


@dataclass(frozen=True)
class BuildRequest:
    """Everything one ``buildx build --push`` needs."""

    context: Path
    dockerfile: Path
    platforms: tuple[str, ...]
    tags: tuple[str, ...]
    push: bool = True
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    cache_from: tuple[str, ...] = ()
    cache_to: str = ""


@dataclass(frozen=True)
class Credentials:
    registry: str
    username: str
    password: str


def _classify(registry: str, text: str) -> RegistryError | None:
    lowered = text.lower()
    if _AUTH_RE.search(lowered):
        return RegistryError(f"the registry {registry} refused the credentials",
                             input_name="password",
                             hint="Check the username and password (CR_USERNAME / CR_PASSWORD) "
                                  "and that the account may push to this repository")
    if _NETWORK_RE.search(lowered):
        return RegistryError(f"cannot reach the registry {registry}", input_name="registry",
                             hint="Check the registry host and port (CR_ENDPOINT) and that the "
                                  "runner can reach it")
    return None


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@contextmanager
def private_docker_config(runner_temp: str) -> Iterator[Path]:
    """A Docker config directory for one build, removed afterwards (with any credentials).

    The user's CLI plugins (``buildx`` installed under ``~/.docker/cli-plugins``) stay usable."""
    base = Path(runner_temp) if runner_temp else None
    directory = Path(tempfile.mkdtemp(prefix="gitops-release-docker-", dir=base))
    try:
        for source in (Path.home() / ".docker" / "cli-plugins",):
            if source.is_dir():
                (directory / "cli-plugins").symlink_to(source)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def login(docker: DockerClient, credentials: Credentials) -> None:
    """``docker login`` with the password on stdin; a refusal becomes a RegistryError."""
    from python_on_whales.exceptions import DockerException
    from python_on_whales.utils import run

    command = [*docker.client_config.docker_cmd, "login", "--password-stdin",
               "--username", credentials.username, credentials.registry]
    try:
        run(command, input=credentials.password.encode(), capture_stdout=True, capture_stderr=True)
    except DockerException as exc:
        text = (exc.stderr or "") + (exc.stdout or "")
        raise _classify(credentials.registry, text) or RegistryError(
            f"docker login to {credentials.registry} failed: {_tail(text, 3)}",
            input_name="registry") from exc


def containerd_store(docker: DockerClient) -> bool:
    """Whether the engine keeps images in containerd (then its builder does multi-platform)."""
    status = docker.system.info().driver_status or []
    return any(key == "driver-type" and "containerd" in str(value) for key, value in status)


def needs_emulation(platforms: Sequence[str], host: str | None = None) -> list[str]:
    """Architectures among ``platforms`` the host cannot run and binfmt_misc has no QEMU for."""
    native = _HOST_ARCH.get(host or platform.machine().lower(), "")
    runnable = {native, "386"} if native == "amd64" else {native}
    missing: list[str] = []
    for item in platforms:
        arch = item.split("/")[1] if item.count("/") >= 1 else item
        qemu = _QEMU_NAMES.get(arch)
        if arch in runnable or qemu is None:
            continue
        if not Path(f"/proc/sys/fs/binfmt_misc/qemu-{qemu}").exists() and arch not in missing:
            missing.append(arch)
    return missing


def install_emulators(docker: DockerClient, arches: Sequence[str],
                      warn: Callable[[str], None]) -> None:
    from python_on_whales.exceptions import DockerException

    try:
        docker.run(BINFMT_IMAGE, ["--install", ",".join(arches)], privileged=True, remove=True)
    except DockerException as exc:
        reason = _tail(exc.stderr or "", 1) or "see the log above"
        warn(f"QEMU for {', '.join(arches)} is not installed and could not be installed with "
             f"{BINFMT_IMAGE} ({reason}); RUN steps for those platforms will fail, a Dockerfile "
             "without RUN steps builds anyway")


def needs_container_builder(containerd: bool, request: BuildRequest) -> bool:
    """Whether the engine's default (``docker`` driver) builder cannot do this build: several
    platforms or a cache export other than inline, on an engine without the containerd store."""
    multi = len(request.platforms) > 1
    exotic_cache = bool(request.cache_to) and not request.cache_to.startswith("type=inline")
    return not containerd and (multi or exotic_cache)


@contextmanager
def builder_for(docker: DockerClient, request: BuildRequest,
                info: Callable[[str], None]) -> Iterator[str | None]:
    """The builder to use: the engine's own when it can, else a temporary docker-container one."""
    if not needs_container_builder(containerd_store(docker), request):
        info("builder: the engine's default builder")
        yield None
        return
    import secrets

    name = f"{BUILDER_PREFIX}-{secrets.token_hex(4)}"
    info(f"builder: creating the docker-container builder {name} (the engine has no containerd "
         "image store, which multi-platform builds need)")
    builder = docker.buildx.create(name=name, driver="docker-container",
                                   driver_options={"network": "host"}, bootstrap=True)
    try:
        yield name
    finally:
        docker.buildx.remove(builder)


class TransientRegistryError(RegistryError):
    """The registry answered a push with a server error (5xx); trying again may succeed."""


def build_and_push(docker: DockerClient, request: BuildRequest, registry: str,
                   log: Callable[[str], None], info: Callable[[str], None],
                   attempts: int = 2) -> str:
    """Build and push; a registry server error (5xx) during the push is retried once, the build
    itself comes from the cache the first attempt filled."""
    for attempt in range(1, attempts + 1):
        try:
            return _build_once(docker, request, registry, log, info)
        except TransientRegistryError as exc:
            if attempt == attempts:
                raise
            info(f"the registry failed the push ({exc.message}); trying again")
    raise AssertionError("unreachable")


def _build_once(docker: DockerClient, request: BuildRequest, registry: str,
                log: Callable[[str], None], info: Callable[[str], None]) -> str:
    """Build, push, and return the digest of what was pushed (``containerimage.digest``)."""
    from python_on_whales.exceptions import DockerException

    metadata = Path(str(docker.client_config.config)) / "build-metadata.json"
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with builder_for(docker, request, info) as builder:
        try:
            stream = docker.buildx.build(
                request.context, file=request.dockerfile, platforms=list(request.platforms),
                tags=list(request.tags), push=request.push, build_args=dict(request.build_args),
                labels=dict(request.labels), cache_from=list(_cache_dicts(request.cache_from)) or
                None, cache_to=request.cache_to or None, builder=builder,
                metadata_file=metadata, progress="plain", stream_logs=True)
            for line in stream:  # type: ignore[union-attr]
                tail.append(line.rstrip("\n"))
                log(line.rstrip("\n"))
        except DockerException as exc:
            text = "\n".join(tail) + (exc.stderr or "")
            pushing = "push" in text.lower() or "exporting to image" in text.lower()
            error = _classify(registry, text) if pushing else None
            server_error = re.search(r"\b5\d\d (?:Internal Server Error|Bad Gateway|Service "
                                     r"Unavailable|Gateway Timeout)", text)
            if pushing and error is None and server_error:
                raise TransientRegistryError(f"the registry {registry} answered "
                                             f"{server_error.group(0)}", input_name="registry",
                                             hint="The registry failed; try again later") from exc
            raise error or BuildError(f"docker buildx build failed (exit {exc.return_code}): "
                                      f"{_tail(text, 8)}",
                                      hint="Read the build log above for the failing step") from exc
    if not metadata.is_file():
        return ""
    data = json.loads(metadata.read_text(encoding="utf-8"))
    return str(data.get("containerimage.digest", ""))


def _cache_dicts(values: Sequence[str]) -> Iterator[dict[str, str]]:
    for value in values:
        entry: dict[str, str] = {}
        for part in value.split(","):
            key, sep, item = part.partition("=")
            if sep:
                entry[key.strip()] = item.strip()
            else:  # a bare reference means type=registry,ref=<it>
                entry.update({"type": "registry", "ref": part.strip()})
        yield entry
