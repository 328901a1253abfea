"""Tag rules: docker/metadata-action's syntax gives metadata-action's results.

Every expected value below is what metadata-action v5 computes for the same ref, event and rules
(its src/meta.ts and src/tag.ts: priority order, first tag is the version, de-duplication, the
``latest`` tag under ``flavor: latest=auto``, pre-releases only giving raw/version).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gitops_release.errors import InputError
from gitops_release.tags import (
    DEFAULT_RULES,
    Context,
    compute_tags,
    context_from_environ,
    format_moment,
    labels,
    parse_flavor,
)

NOW = datetime(2026, 11, 26, 9, 8, 7, 654321, tzinfo=timezone.utc)
STAMP = "20261126090807654"
SHA = "0123456789abcdef0123456789abcdef01234567"
MAIN = {"repository": {"default_branch": "main"}}

CASES = [
    # id, ref, event, rules, expected tags, expected version
    ("design-tag-push", "refs/tags/v1.2.3", "push", DEFAULT_RULES,
     ["v1.2.3", STAMP, "latest"], "v1.2.3"),
    ("design-branch-push", "refs/heads/main", "push", DEFAULT_RULES, [STAMP], STAMP),
    ("design-feature-branch", "refs/heads/feature/login", "push", DEFAULT_RULES, [STAMP], STAMP),
    ("semver-not-a-version-tag", "refs/tags/release-7", "push", DEFAULT_RULES, [STAMP], STAMP),
    ("semver-all-patterns", "refs/tags/v1.2.3", "push",
     "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\n"
     "type=semver,pattern={{major}}\ntype=semver,pattern={{raw}}",
     ["1.2.3", "1.2", "1", "v1.2.3", "latest"], "1.2.3"),
    ("semver-combination", "refs/tags/v4.5.6", "push",
     "type=semver,pattern=v{{major}}.{{minor}}.{{patch}}-stable", ["v4.5.6-stable", "latest"],
     "v4.5.6-stable"),
    ("semver-major-zero-not-skipped", "refs/tags/0.3.1", "push", "type=semver,pattern={{major}}",
     ["0", "latest"], "0"),
    ("prerelease-version-only", "refs/tags/v2.0.0-rc.1", "push",
     "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\n"
     "type=semver,pattern={{major}}", ["2.0.0-rc.1"], "2.0.0-rc.1"),
    ("prerelease-raw", "refs/tags/v2.0.0-rc.1", "push", DEFAULT_RULES,
     ["v2.0.0-rc.1", STAMP], "v2.0.0-rc.1"),
    ("build-metadata-sanitized", "refs/tags/v1.2.3+build.5", "push",
     "type=semver,pattern={{raw}}\ntype=semver,pattern={{version}}",
     ["v1.2.3-build.5", "1.2.3", "latest"], "v1.2.3-build.5"),
    ("semver-value-override-on-branch", "refs/heads/main", "push",
     "type=semver,pattern={{major}}.{{minor}},value=v3.4.5", ["3.4", "latest"], "3.4"),
    ("semver-match-attribute", "refs/tags/app/v1.2.3", "push",
     r"type=semver,pattern={{version}},match=app/v(\d.\d.\d)$", ["1.2.3", "latest"], "1.2.3"),
    ("semver-prefix-suffix", "refs/tags/v1.2.3", "push",
     "type=semver,pattern={{major}},prefix=v,suffix=-alpine", ["v1-alpine", "latest"], "v1-alpine"),
    ("sha-short", "refs/heads/main", "push", "type=sha", ["sha-0123456"], "sha-0123456"),
    ("sha-long-no-prefix", "refs/heads/main", "push", "type=sha,format=long,prefix=",
     [SHA], SHA),
    ("ref-branch-slash", "refs/heads/feature/login", "push", "type=ref,event=branch",
     ["feature-login"], "feature-login"),
    ("ref-tag-latest", "refs/tags/v1.2.3", "push", "type=ref,event=tag", ["v1.2.3", "latest"],
     "v1.2.3"),
    ("ref-pr", "refs/pull/42/merge", "pull_request",
     "type=ref,event=branch\ntype=ref,event=pr", ["pr-42"], "pr-42"),
    ("ref-priorities", "refs/heads/main", "push",
     "type=sha\ntype=raw,value=dev\ntype=ref,event=branch", ["main", "dev", "sha-0123456"], "main"),
    ("priority-attribute", "refs/heads/main", "push",
     "type=raw,value=dev\ntype=sha,priority=1000", ["sha-0123456", "dev"], "sha-0123456"),
    ("priority-tie-keeps-order", "refs/heads/main", "push",
     "type=raw,value=b\ntype=raw,value=a", ["b", "a"], "b"),
    ("dedup", "refs/tags/v1.2.3", "push",
     "type=raw,value=v1.2.3\ntype=semver,pattern={{raw}}\ntype=raw,value=latest",
     ["v1.2.3", "latest"], "v1.2.3"),
    ("enable-default-branch-true", "refs/heads/main", "push",
     "type=raw,value=stable,enable={{is_default_branch}}\ntype=sha", ["stable", "sha-0123456"],
     "stable"),
    ("enable-default-branch-false", "refs/heads/dev", "push",
     "type=raw,value=stable,enable={{is_default_branch}}\ntype=sha", ["sha-0123456"],
     "sha-0123456"),
    ("enable-false", "refs/tags/v1.2.3", "push",
     "type=semver,pattern={{raw}},enable=false\ntype=sha", ["sha-0123456"], "sha-0123456"),
    ("raw-branch-empty-on-tag", "refs/tags/v1.2.3", "push",
     "type=raw,value={{branch}}\ntype=raw,value={{tag}}-{{sha}}", ["v1.2.3-0123456"],
     "v1.2.3-0123456"),
    ("raw-branch-expression", "refs/heads/main", "push", "type=raw,value={{branch}}-{{sha}}",
     ["main-0123456"], "main-0123456"),
    ("raw-without-type", "refs/heads/main", "push", "nightly-build", ["nightly-build"],
     "nightly-build"),
    ("date-tz", "refs/heads/main", "push", "type=raw,value={{date 'YYYYMMDD-HHmm' tz='Asia/Tokyo'}}",
     ["20261126-1808"], "20261126-1808"),
    ("date-literal-text", "refs/heads/main", "push",
     "type=raw,value={{date '[build]-YYYY.MM.DD'}}", ["build-2026.11.26"], "build-2026.11.26"),
    ("edge-default-branch", "refs/heads/main", "push", "type=edge\ntype=sha",
     ["edge", "sha-0123456"], "edge"),
    ("edge-other-branch", "refs/heads/dev", "push", "type=edge,branch=main\ntype=sha",
     ["sha-0123456"], "sha-0123456"),
    ("schedule-nightly", "refs/heads/main", "schedule", "type=schedule\ntype=sha",
     ["nightly", "sha-0123456"], "nightly"),
    ("schedule-not-on-push", "refs/heads/main", "push", "type=schedule\ntype=sha",
     ["sha-0123456"], "sha-0123456"),
    ("match-group", "refs/tags/v1.2.3", "push", r"type=match,pattern=v(\d+.\d+),group=1",
     ["1.2", "latest"], "1.2"),
    ("comments-and-blank-lines", "refs/heads/main", "push", "# dev builds\n\ntype=sha\n",
     ["sha-0123456"], "sha-0123456"),
    ("quoted-field", "refs/heads/main", "push", 'type=raw,"value=a,b"', ["a-b"], "a-b"),
    ("html-escaped-like-handlebars", "refs/heads/it's", "push", "type=raw,value={{branch}}",
     ["it-x27-s"], "it-x27-s"),
]


@pytest.mark.parametrize(("ref", "event", "rules", "expected", "version"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_tags_like_metadata_action(ref: str, event: str, rules: str, expected: list[str],
                                   version: str) -> None:
    result = compute_tags(rules, Context(ref=ref, sha=SHA, event_name=event, payload=MAIN, now=NOW))
    assert list(result.tags) == expected
    assert result.version == version


@pytest.mark.parametrize(("flavor", "expected"), [
    ("latest=false", ["v1.2.3", STAMP]),
    ("latest=true", ["v1.2.3", STAMP, "latest"]),
    ("prefix=app-,onlatest=true", ["app-v1.2.3", f"app-{STAMP}", "app-latest"]),
    ("suffix=-slim", ["v1.2.3-slim", f"{STAMP}-slim", "latest"]),
], ids=["latest-false", "latest-true", "prefix-onlatest", "suffix"])
def test_flavor(flavor: str, expected: list[str]) -> None:
    result = compute_tags(DEFAULT_RULES, Context(ref="refs/tags/v1.2.3", now=NOW),
                          parse_flavor(flavor))
    assert list(result.tags) == expected


def test_latest_true_on_branch() -> None:
    result = compute_tags(DEFAULT_RULES, Context(ref="refs/heads/main", now=NOW),
                          parse_flavor("latest=true"))
    assert list(result.tags) == [STAMP, "latest"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("YYYYMMDDHHmmssSSS", STAMP),
    ("YY-M-D H:m:s.S", "26-11-26 9:8:7.6"),
    ("dddd ddd dd d MMMM MMM Q", "Thursday Thu Th 4 November Nov 4"),
    ("hh:mm A a", "09:08 AM am"),
    ("DDDD W GGGG X", "330 48 2026 1795684087"),
    ("SSSSSS Z ZZ x", "654000 +00:00 +0000 1795684087654"),
    ("[YYYY] \\Y T", "YYYY Y T"),
], ids=["seed", "short", "names", "12h", "day-week-unix", "fraction-zone", "escapes"])
def test_moment_format(pattern: str, expected: str) -> None:
    assert format_moment(pattern, NOW) == expected


@pytest.mark.parametrize(("rules", "message"), [
    ("type=calver", "unknown tag type 'calver'"),
    ("type=pep440,pattern={{version}}", "type=pep440 is not supported"),
    ("type=semver,pattern={{raw}},event=tag", "unknown attribute 'event' for type=semver"),
    ("type=semver", "needs a pattern attribute"),
    ("type=raw", "needs a value attribute"),
    ("type=ref", "needs event=branch, event=tag or event=pr"),
    ("type=sha,format=medium", "format='medium' is not short or long"),
    ("type=raw,value={{nope}}", "unknown expression {{nope}}"),
    ("type=raw,value={{#if branch}}x{{/if}}", "is not supported"),
    ("type=raw,value={{date 'YYYY Do'}}", "date format token 'Do' is not supported"),
    ("type=raw,value={{date 'YYYY' tz='Mars/Olympus'}}", "unknown time zone 'Mars/Olympus'"),
    ("type=raw,value={{date YYYY}}", "cannot read the arguments"),
    ("type=raw,value=x,enable=maybe", "enable='maybe' is neither true nor false"),
    ("type=raw,value=x,priority=high", "priority='high' is not a whole number"),
    ("type=ref,event=tag", "no rule produced a tag for refs/heads/main"),
    ("type=raw,value=-leading-dash", "is not a valid tag"),
], ids=["unknown-type", "pep440", "unknown-attribute", "semver-no-pattern", "raw-no-value",
        "ref-no-event", "sha-format", "unknown-expression", "block-helper", "date-token",
        "time-zone", "unquoted-argument", "enable", "priority", "no-tag", "invalid-tag"])
def test_bad_rules_name_the_tags_input(rules: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        compute_tags(rules, Context(ref="refs/heads/main", sha=SHA, now=NOW))
    assert raised.value.input_name == "tags"
    assert message in str(raised.value)


def test_bad_flavor_names_the_flavor_input() -> None:
    with pytest.raises(InputError, match="input 'flavor'"):
        parse_flavor("latest=sometimes")


def test_context_from_environ_reads_event_payload(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "trunk"}}), encoding="utf-8")
    ctx = context_from_environ({"GITHUB_REF": "refs/heads/trunk", "GITHUB_SHA": SHA,
                                "GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(event),
                                "DOCKER_METADATA_SHORT_SHA_LENGTH": "10"}, now=NOW)
    result = compute_tags("type=raw,value=x,enable={{is_default_branch}}\ntype=sha", ctx)
    assert list(result.tags) == ["x", "sha-0123456789"]


def test_labels_from_environment_sorted_and_overridable() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.example.com", "GITHUB_REPOSITORY": "acme/api",
           "GITHUB_SHA": SHA}
    assert labels("v1.2.3", env, NOW, ["org.opencontainers.image.title=API", "team=core"]) == {
        "org.opencontainers.image.created": "2026-11-26T09:08:07.654Z",
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.source": "https://github.example.com/acme/api",
        "org.opencontainers.image.title": "API",
        "org.opencontainers.image.version": "v1.2.3",
        "team": "core",
    }
    with pytest.raises(InputError, match="input 'labels'"):
        labels("v1", env, NOW, ["novalue"])
