"""docker/metadata-action's documented cases, as one table per seam of gitops_release.tags.

Each row is a case of metadata-action's README (v5: the "tags input" section, one table per
type, the "flavor input", "global expressions" and "latest tag" sections), written down here from
its documented behaviour: the same event, ref and rule give the same tags. The clock and commit
are the README's (``sha-860c190``; the schedule examples' 2020-01-10, 09:30 in Tokyo).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gitops_release.tags import Context, compute_tags, parse_flavor, parse_rule, render
from gitops_release.tags.evaluation import sanitize_tag

NOW = datetime(2020, 1, 10, 0, 30, 0, tzinfo=timezone.utc)
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
REPO = {"repository": {"default_branch": "master"}}


def tags(ref: str, rules: str, event: str = "push", flavor: str = "",
         payload: dict[str, object] | None = None) -> list[str]:
    context = Context(ref=ref, sha=SHA, event_name=event, payload=payload or REPO, now=NOW)
    return list(compute_tags(rules, context, parse_flavor(flavor)).tags)


# -- evaluation: one row per example of the README's tables ------------------------------------
README_TABLES = [
    # type=semver: "Git tag | Pattern | Output" (latest=auto adds latest unless a pre-release)
    ("semver-raw", "refs/tags/v1.2.3", "type=semver,pattern={{raw}}", ["v1.2.3", "latest"]),
    ("semver-version", "refs/tags/v1.2.3", "type=semver,pattern={{version}}", ["1.2.3", "latest"]),
    ("semver-major-minor", "refs/tags/v1.2.3", "type=semver,pattern={{major}}.{{minor}}",
     ["1.2", "latest"]),
    ("semver-v-major", "refs/tags/v1.2.3", "type=semver,pattern=v{{major}}", ["v1", "latest"]),
    ("semver-minor", "refs/tags/v1.2.3", "type=semver,pattern={{minor}}", ["2", "latest"]),
    ("semver-patch", "refs/tags/v1.2.3", "type=semver,pattern={{patch}}", ["3", "latest"]),
    ("semver-prerelease-raw", "refs/tags/v2.0.8-beta.67", "type=semver,pattern={{raw}}",
     ["v2.0.8-beta.67"]),
    ("semver-prerelease-version", "refs/tags/v2.0.8-beta.67", "type=semver,pattern={{version}}",
     ["2.0.8-beta.67"]),
    ("semver-prerelease-only-version", "refs/tags/v2.0.8-beta.67",
     "type=semver,pattern={{major}}.{{minor}}", ["2.0.8-beta.67"]),
    ("semver-not-on-branch", "refs/heads/master", "type=semver,pattern={{version}}\ntype=sha",
     ["sha-860c190"]),
    # type=match: "Git tag | Pattern | Group | Output"
    ("match-whole", "refs/tags/v1.2.3", r"type=match,pattern=\d.\d.\d", ["1.2.3", "latest"]),
    ("match-group-rest", "refs/tags/v2.0.8-beta.67", "type=match,pattern=v(.*),group=1",
     ["2.0.8-beta.67", "latest"]),
    ("match-group-major-minor", "refs/tags/v2.0.8-beta.67", r"type=match,pattern=v(\d.\d),group=1",
     ["2.0", "latest"]),
    ("match-date", "refs/tags/20200110-RC2", r"type=match,pattern=\d+", ["20200110", "latest"]),
    ("match-prefixed-tag", "refs/tags/p1/v1.2.3", r"type=match,pattern=p1/v(\d.\d.\d),group=1",
     ["1.2.3", "latest"]),
    # type=edge: the default branch (or branch=) gives "edge"
    ("edge-default-branch", "refs/heads/master", "type=edge", ["edge"]),
    ("edge-named-branch", "refs/heads/main", "type=edge,branch=main", ["edge"]),
    # type=ref: "Event | Ref | Output"
    ("ref-branch", "refs/heads/master", "type=ref,event=branch", ["master"]),
    ("ref-branch-slash", "refs/heads/my/branch", "type=ref,event=branch", ["my-branch"]),
    ("ref-tag", "refs/tags/v1.2.3", "type=ref,event=tag", ["v1.2.3", "latest"]),
    ("ref-tag-prerelease", "refs/tags/v2.0.8-beta.67", "type=ref,event=tag",
     ["v2.0.8-beta.67", "latest"]),
    # type=raw
    ("raw-value", "refs/heads/master", "type=raw,value=foo", ["foo"]),
    ("raw-enable-false", "refs/heads/master", "type=raw,value=bar,enable=false\ntype=raw,value=foo",
     ["foo"]),
    # type=sha
    ("sha-short", "refs/heads/master", "type=sha", ["sha-860c190"]),
    ("sha-long", "refs/heads/master", "type=sha,format=long", [f"sha-{SHA}"]),
    ("sha-no-prefix", "refs/heads/master", "type=sha,prefix=", ["860c190"]),
    # global expressions
    ("expr-branch", "refs/heads/master", "type=raw,value={{branch}}", ["master"]),
    ("expr-tag", "refs/tags/v1.2.3", "type=raw,value={{tag}}", ["v1.2.3"]),
    ("expr-sha", "refs/heads/master", "type=raw,value=gha-{{sha}}", ["gha-860c190"]),
    ("expr-date", "refs/heads/master", "type=raw,value={{date 'YYYYMMDD'}}", ["20200110"]),
    ("expr-is-default-branch", "refs/heads/master",
     "type=raw,value=latest,enable={{is_default_branch}}", ["latest"]),
    ("expr-is-not-default-branch", "refs/heads/dev",
     "type=raw,value=latest,enable={{is_default_branch}}\ntype=sha", ["sha-860c190"]),
    # priority: "the higher the priority, the first it is in the list"
    ("priority-order", "refs/tags/v1.2.3",
     "type=sha\ntype=semver,pattern={{version}}\ntype=ref,event=tag", ["1.2.3", "v1.2.3",
                                                                        "sha-860c190", "latest"]),
]


@pytest.mark.parametrize(("ref", "rules", "expected"), [row[1:] for row in README_TABLES],
                         ids=[row[0] for row in README_TABLES])
def test_readme_tables(ref: str, rules: str, expected: list[str]) -> None:
    assert tags(ref, rules) == expected


SCHEDULE = [  # type=schedule: "Pattern | Output", on a schedule event
    ("nightly", "type=schedule", ["nightly"]),
    ("date", "type=schedule,pattern={{date 'YYYYMMDD'}}", ["20200110"]),
    ("date-tz", "type=schedule,pattern={{date 'YYYYMMDD-hhmmss' tz='Asia/Tokyo'}}",
     ["20200110-093000"]),
]


@pytest.mark.parametrize(("rules", "expected"), [row[1:] for row in SCHEDULE],
                         ids=[row[0] for row in SCHEDULE])
def test_readme_schedule(rules: str, expected: list[str]) -> None:
    assert tags("refs/heads/master", rules, event="schedule") == expected
    assert tags("refs/heads/master", f"{rules}\ntype=sha") == ["sha-860c190"]  # not on push


def test_readme_pull_request_ref() -> None:
    assert tags("refs/pull/2/merge", "type=ref,event=pr", event="pull_request") == ["pr-2"]


def test_readme_base_ref_on_a_tag_push() -> None:
    assert tags("refs/tags/v1.2.3", "type=raw,value={{base_ref}}",
                payload={**REPO, "base_ref": "refs/heads/master"}) == ["master"]


# -- flavor: the README's "flavor input" ------------------------------------------------------
FLAVOR = [
    ("latest-auto", "", ["v1.2.3", "latest"]),
    ("latest-false", "latest=false", ["v1.2.3"]),
    ("prefix", "prefix=foo-", ["foo-v1.2.3", "latest"]),
    ("prefix-onlatest", "prefix=foo-,onlatest=true", ["foo-v1.2.3", "foo-latest"]),
    ("suffix", "suffix=-bar", ["v1.2.3-bar", "latest"]),
    ("suffix-onlatest", "suffix=-bar,onlatest=true", ["v1.2.3-bar", "latest-bar"]),
]


@pytest.mark.parametrize(("flavor", "expected"), [row[1:] for row in FLAVOR],
                         ids=[row[0] for row in FLAVOR])
def test_readme_flavor(flavor: str, expected: list[str]) -> None:
    assert tags("refs/tags/v1.2.3", "type=ref,event=tag", flavor=flavor) == expected


def test_readme_latest_true_on_a_branch_and_rule_prefix_wins_over_flavor() -> None:
    assert tags("refs/heads/master", "type=ref,event=branch", flavor="latest=true") == [
        "master", "latest"]
    assert tags("refs/heads/master", "type=ref,event=branch,prefix=br-",
                flavor="prefix=foo-") == ["br-master"]


# -- rules: the defaults the README gives each type -------------------------------------------
RULE_DEFAULTS = [
    ("schedule", "type=schedule", {"pattern": "nightly"}, 1000),
    ("semver", "type=semver,pattern={{version}}", {"value": "", "match": ""}, 900),
    ("match", r"type=match,pattern=\d+", {"group": "0", "value": ""}, 800),
    ("edge", "type=edge", {"branch": ""}, 700),
    ("ref-pr", "type=ref,event=pr", {"prefix": "pr-"}, 600),
    ("raw", "type=raw,value=foo", {"value": "foo"}, 200),
    ("sha", "type=sha", {"prefix": "sha-", "format": "short"}, 100),
    ("no-type-is-raw", "foo", {"value": "foo"}, 200),
    ("priority-attribute", "type=sha,priority=1001", {"prefix": "sha-"}, 1001),
]


@pytest.mark.parametrize(("line", "defaults", "priority"), [row[1:] for row in RULE_DEFAULTS],
                         ids=[row[0] for row in RULE_DEFAULTS])
def test_rule_defaults(line: str, defaults: dict[str, str], priority: int) -> None:
    rule = parse_rule(line)
    assert {key: rule.attrs[key] for key in defaults} == defaults
    assert rule.attrs["enable"] == "true"
    assert rule.priority == priority


# -- template: Handlebars as metadata-action renders it ----------------------------------------
TEMPLATE = [
    ("plain", "v{{major}}", {"major": "1"}, "v1"),
    ("html-escaped", "{{v}}", {"v": "a&b"}, "a&amp;b"),
    ("triple-not-escaped", "{{{v}}}", {"v": "a&b"}, "a&b"),
    ("comment", "x{{! a comment }}y", {}, "xy"),
    ("escaped-braces", "\\{{v}}", {"v": "1"}, "{{v}}"),
    ("whitespace", "{{ v }}", {"v": "1"}, "1"),
]


@pytest.mark.parametrize(("template", "scope", "expected"), [row[1:] for row in TEMPLATE],
                         ids=[row[0] for row in TEMPLATE])
def test_template(template: str, scope: dict[str, str], expected: str) -> None:
    assert render(template, scope) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("my/branch", "my-branch"), ("v1.2.3+build", "v1.2.3-build"), ("a b:c", "a-b-c"),
], ids=["slash", "plus", "space-colon"])
def test_tags_are_sanitized_like_metadata_action(value: str, expected: str) -> None:
    assert sanitize_tag(value) == expected
