"""`gitops-release build-push`: compute tags (metadata-action rules), build for several platforms
with buildx, push, and report the image, version and pushed digest. On a version tag the image
built from the same commit is promoted by digest instead (see gitops_release.promotion)."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_release.errors import BuildError, InputError
from gitops_release.inputs import CommandSpec, InputSpec, check_text, parse_bool, parse_list
from gitops_release.reference import parse_reference, validate_name
from gitops_release.runner import Runner, md_escape
from gitops_release.tags import (
    DEFAULT_RULES,
    Context,
    TagResult,
    compute_tags,
    context_from_environ,
    labels,
    parse_flavor,
)

if TYPE_CHECKING:
    from python_on_whales import DockerClient

    from gitops_release.promotion import Found

SPEC = CommandSpec(
    name="build-push",
    help="Build a multi-platform image with buildx, tag it with metadata-action rules and push it.",
    inputs=(
        InputSpec("registry", "Registry host[:port] to push to (the seed's CR_ENDPOINT)",
                  required=True),
        InputSpec("username", "Registry user name; empty: no login"),
        InputSpec("password", "Registry password or token, sent to docker login on stdin",
                  secret=True),
        InputSpec("image-name", "Repository path in the registry, e.g. team/api", required=True),
        InputSpec("context", "Build context directory", default="."),
        InputSpec("file", "Path to the Dockerfile", default="./Dockerfile"),
        InputSpec("platforms", "Target platforms, comma- or newline-separated",
                  default="linux/amd64,linux/arm64"),
        InputSpec("tags", "Tag rules in docker/metadata-action syntax, one per line",
                  default=DEFAULT_RULES),
        InputSpec("flavor", "docker/metadata-action flavor (latest=auto|true|false, prefix=, "
                  "suffix=)"),
        InputSpec("push", "Push the image (true/false)", default="true"),
        InputSpec("build-args", "Extra build arguments, KEY=VALUE per line (version is always set)"),
        InputSpec("cache-from", "Cache sources, one per line; empty: "
                  "type=registry,ref=<registry>/<image-name>; none: no cache import"),
        InputSpec("cache-to", "Cache export; 'none' for no export", default="type=inline"),
        InputSpec("labels", "Extra image labels, KEY=VALUE per line"),
        InputSpec("promote", "auto: on a version tag, re-tag the image built from the same commit "
                  "(found by its sha tag or revision label) and build only when there is none; "
                  "always: promote on every event, fail without such an image; never: always "
                  "build", default="auto"),
    ),
    outputs={
        "image": "registry/name:version",
        "version": "the highest-priority tag",
        "tags": "every pushed reference, one per line",
        "digest": "sha256 digest of the pushed image index",
        "release": "<image-name>@<version>",
        "labels": "the image labels, KEY=VALUE per line",
        "promoted": "'true' when an existing image was re-tagged instead of built",
        "promoted-from": "the image that was re-tagged (registry/name:tag), empty after a build",
    },
)


@dataclass(frozen=True)
class BuildPushInputs:
    registry: str
    username: str
    password: str
    image_name: str
    context: Path
    dockerfile: Path
    platforms: tuple[str, ...]
    tags: str
    flavor: str
    push: bool
    build_args: dict[str, str]
    cache_from: tuple[str, ...]
    cache_to: str
    labels: tuple[str, ...]
    promote: str = "auto"

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.image_name}"


def _pairs(name: str, value: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in filter(None, (line.strip() for line in value.splitlines())):
        key, sep, item = line.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{line!r} is not KEY=VALUE", input_name=name,
                             hint="Write one KEY=VALUE per line")
        result[key.strip()] = item
    return result


def read_inputs(raw: Mapping[str, str]) -> BuildPushInputs:
    from gitops_release.promotion import parse_mode

    registry = check_text("registry", raw["registry"].strip()).removeprefix("https://")
    image_name = check_text("image-name", raw["image-name"].strip())
    repository = validate_name(f"{registry}/{image_name}", "image-name")
    if parse_reference(repository, "registry").domain != registry:
        raise InputError(f"{registry!r} is not a registry host", input_name="registry",
                         hint="Use host[:port], e.g. myregistry.azurecr.io or 127.0.0.1:5000")
    context = Path(raw["context"])
    dockerfile = Path(raw["file"])
    if not context.is_dir():
        raise InputError(f"the build context {str(context)!r} is not a directory",
                         input_name="context", hint="Give a path relative to the workspace")
    if not dockerfile.is_file():
        raise InputError(f"the Dockerfile {str(dockerfile)!r} does not exist", input_name="file",
                         hint="Give a path relative to the workspace, e.g. ./Dockerfile")
    platforms = parse_list(raw["platforms"])
    if not platforms:
        raise InputError("no platform given", input_name="platforms",
                         hint="e.g. linux/amd64,linux/arm64")
    cache_from = parse_list(raw["cache-from"].replace(",", "\x00")) if raw["cache-from"] else ()
    cache_from = tuple(item.replace("\x00", ",") for item in cache_from)
    if not cache_from:
        cache_from = (f"type=registry,ref={repository}",)
    if cache_from == ("none",):
        cache_from = ()
    return BuildPushInputs(
        registry=registry, username=check_text("username", raw["username"].strip()),
        password=raw["password"], image_name=image_name, context=context, dockerfile=dockerfile,
        platforms=platforms, tags=check_text("tags", raw["tags"], multiline=True),
        flavor=check_text("flavor", raw["flavor"], multiline=True),
        push=parse_bool("push", raw["push"]), build_args=_pairs("build-args", raw["build-args"]),
        cache_from=cache_from, cache_to="" if raw["cache-to"].strip() == "none" else
        raw["cache-to"].strip(),
        labels=tuple(f"{k}={v}" for k, v in _pairs("labels", raw["labels"]).items()),
        promote=parse_mode(raw["promote"]))


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    if raw["password"]:
        runner.mask(raw["password"])
    inputs = read_inputs(raw)
    now = datetime.now(timezone.utc)
    ctx = context_from_environ(environ, now)
    result = compute_tags(inputs.tags, ctx, parse_flavor(inputs.flavor))
    references = result.references(inputs.repository)
    runner.info(f"version {result.version}; tags: {', '.join(result.tags)}")
    found = _find_promotable(inputs, ctx, result, runner)
    with _docker(inputs, runner, environ) as docker:
        if found is not None:
            started = time.monotonic()
            _promote(docker, inputs, found, references, runner)
            digest, seconds = found.image.digest, time.monotonic() - started
            image_labels = found.image.labels
        else:
            image_labels = labels(result.version, environ, now, inputs.labels)
            digest, seconds = _build(docker, inputs, references, image_labels, result.version,
                                     runner, environ)
    outputs = {
        "image": f"{inputs.repository}:{result.version}",
        "version": result.version,
        "tags": "\n".join(references),
        "digest": digest,
        "release": f"{inputs.image_name}@{result.version}",
        "labels": "\n".join(f"{k}={v}" for k, v in image_labels.items()),
        "promoted": "true" if found else "false",
        "promoted-from": found.image.reference if found else "",
    }
    runner.set_outputs(outputs)
    promoted = f"{found.image.reference} (found by its {found.by})" if found else ""
    runner.summary(summary_markdown(inputs, outputs["image"], result.tags, digest, seconds,
                                    environ, promoted))


def summary_markdown(inputs: BuildPushInputs, image: str, tags: Sequence[str], digest: str,
                     seconds: float, environ: Mapping[str, str], promoted: str = "") -> str:
    """The step summary: what to pull (image@digest), from which commit, tags, platforms, cache
    (or the image it was promoted from)."""
    pull = f"{image.rsplit(':', 1)[0]}@{digest}" if digest else image
    verb = "Promoted" if promoted else "Built and pushed" if inputs.push else "Built (not pushed)"
    how = f"| Promoted from | {md_escape(promoted)} |\n" if promoted else ""
    cache = (f"from {', '.join(inputs.cache_from) or 'none'}; to {inputs.cache_to or 'none'}")
    return (
        f"### :whale: {verb} {md_escape(image)}\n\n"
        f"Pull it by digest: `{pull}`\n\n"
        f"| | |\n|---|---|\n"
        f"| Source commit | {commit_link(environ)} |\n{how}"
        f"| Tags | {md_escape(', '.join(tags))} |\n"
        f"| Platforms | {md_escape(', '.join(inputs.platforms))} |\n"
        f"| Digest | {md_escape(digest or '-')} |\n"
        f"| Cache | {md_escape(cache)} |\n"
        f"| {'Promotion' if promoted else 'Build'} time | {seconds:.1f} s |\n")


def commit_link(environ: Mapping[str, str]) -> str:
    """``[abc1234](server/owner/repo/commit/sha)`` from the GITHUB_* variables, plain when a
    value does not look like one (nothing from them can break out of the link)."""
    sha = environ.get("GITHUB_SHA", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not re.fullmatch(r"[0-9a-f]{7,64}", sha):
        return "-"
    if not (re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository)
            and re.fullmatch(r"https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._/-]*)?", server)):
        return f"`{sha[:12]}`"
    return f"[`{sha[:12]}`]({server}/{repository}/commit/{sha})"


def _find_promotable(inputs: BuildPushInputs, ctx: Context, result: TagResult,
                     runner: Runner) -> Found | None:
    """The image built from this commit when this event promotes; None means build."""
    from gitops_release import promotion
    from gitops_release.registry import RegistryClient

    if not promotion.wanted(inputs.promote, ctx.ref) or not inputs.push:
        return None
    client = RegistryClient(inputs.registry, inputs.username, inputs.password)
    found = promotion.find_build(client, inputs.image_name, ctx.sha,
                                 short_length=ctx.short_sha_length, skip=result.tags,
                                 log=runner.info)
    if found is not None:
        runner.info(f"promoting {found.image.reference} ({found.image.digest}), built from "
                    f"{ctx.sha[:12]} (found by its {found.by}); nothing is built")
        return found
    if inputs.promote == "always":
        raise BuildError(f"no image of {inputs.repository} was built from {ctx.sha or 'this commit'}",
                         input_name="promote",
                         hint="Release a commit that was built before (e.g. deployed to dev), or "
                              "set promote: auto to build when there is none")
    runner.info(f"no image of {inputs.repository} was built from {ctx.sha[:12] or 'this commit'}; "
                "building it")
    return None


def _promote(docker: DockerClient, inputs: BuildPushInputs, found: Found,
             references: list[str], runner: Runner) -> None:
    from gitops_release import promotion
    from gitops_release.registry import RegistryClient

    client = RegistryClient(inputs.registry, inputs.username, inputs.password)
    with runner.group(f"Promote {found.image.digest}"):
        promotion.retag(docker, client, inputs.image_name, found, references, runner.info)


@contextmanager
def _docker(inputs: BuildPushInputs, runner: Runner,
            environ: Mapping[str, str]) -> Iterator[DockerClient]:
    """A Docker client with a private config, logged in to the registry when credentials are given."""
    from python_on_whales import DockerClient

    from gitops_release import build

    if shutil.which("docker", path=environ.get("PATH", os.defpath)) is None:
        raise BuildError("the docker command was not found on PATH",
                         hint="Install Docker (the docker CLI with its buildx plugin), or put it "
                              "on PATH; on GitHub, use a runner that has Docker (ubuntu-latest)")
    with build.private_docker_config(environ.get("RUNNER_TEMP", "")) as config:
        docker = DockerClient(config=config)
        if inputs.username and inputs.password:
            with runner.group(f"Log in to {inputs.registry}"):
                build.login(docker, build.Credentials(inputs.registry, inputs.username,
                                                      inputs.password))
                runner.info("Login succeeded")
        yield docker


def _build(docker: DockerClient, inputs: BuildPushInputs, references: list[str],
           image_labels: Mapping[str, str], version: str, runner: Runner,
           environ: Mapping[str, str]) -> tuple[str, float]:
    from gitops_release import build

    request = build.BuildRequest(
        context=inputs.context, dockerfile=inputs.dockerfile, platforms=inputs.platforms,
        tags=tuple(references), push=inputs.push,
        build_args={"version": version, **inputs.build_args}, labels=image_labels,
        cache_from=inputs.cache_from, cache_to=inputs.cache_to)
    missing = build.needs_emulation(inputs.platforms)
    if missing and environ.get("RUNNER_ENVIRONMENT") == "github-hosted":
        build.install_emulators(docker, missing, runner.warning)
    elif missing:
        runner.info(f"no QEMU for {', '.join(missing)} on this host: a Dockerfile with RUN "
                    "steps for those platforms needs binfmt handlers (e.g. Debian's "
                    "qemu-user-static); one without RUN steps builds as it is")
    started = time.monotonic()
    with runner.group(f"Build {', '.join(inputs.platforms)}"), runner.verbatim():
        digest = build.build_and_push(docker, request, inputs.registry, runner.info, runner.info)
    seconds = time.monotonic() - started
    runner.info(f"built{' and pushed' if inputs.push else ''} in {seconds:.1f} s; digest {digest}")
    return digest, seconds
