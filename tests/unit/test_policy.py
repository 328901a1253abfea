"""The trust policy's rules, one table per rule, through the API the receiver calls:
``Policy.check(DeployRequest) -> Refusal | None`` and ``Policy.settings_for(path)``."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gitops_release.policy import (
    DeployRequest,
    Hold,
    Policy,
    Refusal,
    Running,
    TargetSettings,
    path_matches,
    tag_agrees,
)
from gitops_release.policyfile import parse_policy
from gitops_release.reference import parse_reference

PROD = "apps/checkout/overlays/prod"
DEV = "apps/checkout/overlays/dev"
REPO = "registry.example.com/acme/checkout"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)  # a Thursday

POLICY = """\
# Checkout is owned by the payments team.
apps:
  - match: apps/checkout/**
    sources: [acme/checkout]
    images: [registry.example.com/acme/checkout, registry.example.com/acme/checkout-*]
    target:
      container: checkout
      release-env: CHECKOUT_RELEASE
      helm: {tag-key: image.version}
  - match: apps/web-api/**
    target: {workload: web-api}
environments:
  - match: prod-eu
    freeze:
      - from: 2026-12-20
        until: 2027-01-02
        reason: year-end freeze
  - match: prod*
    version-scheme: semver
    allow-forced-downgrade: false
    write-mode: pull-request
    freeze:
      - cron: "* 16-23 * * fri"
        reason: no Friday evening deploys
  - match: staging
    version-scheme: keep
holds:
  - path: apps/legacy/overlays/prod
    reason: "being migrated"
    since: 2026-11-20T09:00:00Z
    by: bob
"""


def request(version: str = "v1.5.0", *, path: str = PROD, image: str | None = None,
            running: tuple[tuple[str, str], ...] | None = None, source: str = "acme/checkout",
            forced: bool = False, now: datetime = NOW, operator: bool = False) -> DeployRequest:
    """A deploy of checkout; ``running`` is (path, image) per overlay written."""
    if running is None:
        running = ((path, f"{REPO}:v1.4.0"),)
    return DeployRequest(
        path=path, image=parse_reference(image or f"{REPO}:{version}", "image"), version=version,
        running=tuple(Running(p, parse_reference(i, "image"), parse_reference(i, "image").tag)
                      for p, i in running),
        now=now, source_repository=source, forced=forced, operator=operator)


def reason(refusal: Refusal | None) -> str | None:
    return refusal.reason if refusal else None


@pytest.fixture
def policy() -> Policy:
    return parse_policy(POLICY)


# -- no policy file: the default rules --------------------------------------------------------

@pytest.mark.parametrize(("req", "expected", "words"), [
    (request(), None, ""),
    (request(image="evil.example.net/x/miner:v1.5.0"), "policy",
     "apps/checkout/overlays/prod runs registry.example.com/acme/checkout; the release brings "
     "evil.example.net/x/miner"),
    (request(image=f"{REPO}:v1.3.0"), "policy", "the image tag 'v1.3.0' does not say the "
     "release's version 'v1.5.0'"),
    (request(image=f"{REPO}@sha256:{'a' * 64}"), "policy", "the image has no tag"),
    (request("20261126101500123", running=((PROD, f"{REPO}:v1.4.0"),)), "policy",
     "runs v1.4.0 (semver); '20261126101500123' is timestamp: a change of version scheme needs "
     "allow-downgrade: true"),
    (request("feature-x"), "policy", "'feature-x' is in no scheme"),
    (request("20261126101500123", forced=True), None, ""),
    (request("20261126101500123", path=DEV, running=((DEV, f"{REPO}:v1.4.0"),)), None, ""),
    (request("v1.3.9"), "downgrade", "v1.3.9 is older than v1.4.0, which "
     "apps/checkout/overlays/prod runs"),
    (request("v1.3.9", forced=True), None, ""),
    (request("v1.5.0", running=((PROD, f"{REPO}:v1.4.0"),
                                 ("apps/checkout/overlays/prod-eu", f"{REPO}:v1.6.0"))),
     "downgrade", "which apps/checkout/overlays/prod-eu runs"),
    (request(running=()), None, ""),
], ids=["same-repository", "forged-image-repository", "tag-is-not-the-version", "digest-only",
        "semver-to-timestamp-on-prod", "semver-to-branch-name-on-prod", "scheme-switch-forced",
        "scheme-switch-on-dev", "downgrade", "downgrade-forced", "downgrade-on-a-sibling",
        "nothing-running-yet"])
def test_default_rules(req: DeployRequest, expected: str | None, words: str) -> None:
    refusal = Policy().check(req)
    assert reason(refusal) == expected, refusal
    if refusal is not None:
        assert words in refusal.message
        assert refusal.rule.startswith("default rule")


@pytest.mark.parametrize(("tag", "version", "agrees"), [
    ("v1.2.3", "v1.2.3", True),
    ("1.2.3", "v1.2.3", True),
    ("v1.2.3", "1.2.3", True),
    ("1.2.3-rc.1", "v1.2.3-rc.1", True),
    ("1.2.3-build.7", "1.2.3+build.7", True),
    ("20261126101500123", "20261126101500123", True),
    ("v20261126101500123", "20261126101500123", False),
    ("20261126101500123", "v1.2.3", False),
    ("v1.2.4", "v1.2.3", False),
    ("latest", "v1.2.3", False),
    ("vmain", "main", False),
    ("main", "main", True),
], ids=lambda v: str(v))
def test_tag_agreement(tag: str, version: str, agrees: bool) -> None:
    assert tag_agrees(parse_reference(f"{REPO}:{tag}", "image"), version) is agrees


# -- with a policy file -----------------------------------------------------------------------

@pytest.mark.parametrize(("req", "expected", "words", "line"), [
    (request(), None, "", 0),
    (request(source=""), "policy", "may be deployed only from acme/checkout, and the release "
     "names no source repository", 3),
    (request(source="acme/web-api"), "policy", "acme/web-api may not deploy "
     "apps/checkout/overlays/prod; allowed sources: acme/checkout", 3),
    (request(source="ACME/Checkout"), None, "", 0),
    (request(image="registry.example.com/acme/checkout-canary:v1.5.0"), None, "", 0),
    (request(image="registry.example.com/acme/web-api:v1.5.0"), "policy",
     "may run only registry.example.com/acme/checkout, registry.example.com/acme/checkout-* "
     "images; the release brings registry.example.com/acme/web-api", 3),
    (request("20261126101500123", forced=True), "policy", "takes only semver versions; "
     "'20261126101500123' is a timestamp version", 18),
    (request("v1.3.9", forced=True), "downgrade", "does not take forced downgrades", 18),
    (request("v1.3.9", forced=True, operator=True), None, "", 0),
    (request("v1.3.9", forced=True, operator=True, source=""), None, "", 0),
    (request(image="registry.example.com/acme/web-api:v1.5.0", operator=True), "policy",
     "may run only", 3),
    (request(now=datetime(2026, 11, 27, 16, 30, tzinfo=timezone.utc)), "frozen",
     "apps/checkout/overlays/prod is frozen (cron '* 16-23 * * fri', UTC): no Friday evening "
     "deploys", 23),
    (request(now=datetime(2026, 11, 27, 16, 30, tzinfo=timezone.utc), operator=True), None, "", 0),
    (request(now=datetime(2026, 11, 28, 0, 0, tzinfo=timezone.utc)), None, "", 0),
    (request(running=((PROD, f"{REPO}:v1.4.0"), ("apps/checkout/overlays/prod-eu", f"{REPO}:v1.4.0")),
             now=datetime(2027, 1, 2, 23, 59, tzinfo=timezone.utc)), "frozen",
     "apps/checkout/overlays/prod-eu is frozen (2026-12-20T00:00Z to 2027-01-03T00:00Z, UTC): "
     "year-end freeze", 15),
    (request(running=((PROD, f"{REPO}:v1.4.0"), ("apps/checkout/overlays/prod-eu", f"{REPO}:v1.4.0")),
             now=datetime(2027, 1, 3, 0, 0, tzinfo=timezone.utc)), None, "", 0),
    (request("20261126101500123", path="apps/checkout/overlays/staging",
             running=(("apps/checkout/overlays/staging", f"{REPO}:v1.4.0"),)), "policy",
     "a change of version scheme", 25),
], ids=["allowed", "no-source", "another-teams-repository", "source-case-insensitive",
        "second-image-glob", "image-repository-not-allowed", "timestamp-on-semver-only-prod",
        "forced-downgrade-not-allowed", "rollback-is-not-a-release", "rollback-has-no-source",
        "rollback-still-keeps-the-image-rules", "frozen-friday-evening",
        "rollback-in-a-freeze", "saturday-is-not-frozen", "frozen-sibling-date-range",
        "date-range-until-is-inclusive-of-its-day", "keep-scheme-on-staging"])
def test_policy_rules(policy: Policy, req: DeployRequest, expected: str | None, words: str,
                      line: int) -> None:
    refusal = policy.check(req)
    assert reason(refusal) == expected, refusal
    if refusal is not None:
        assert words in refusal.message
        assert f"gitops-release.yaml:{line} " in refusal.rule


def test_another_teams_path_is_refused(policy: Policy) -> None:
    """The checkout team's repository may not deploy web-api, whose rule lists no sources; and
    the default image-repository rule still keeps web-api on its own repository."""
    web = "apps/web-api/overlays/prod"
    refusal = policy.check(request(path=web, image=f"{REPO}:v1.5.0", source="acme/checkout",
                                   running=((web, "registry.example.com/acme/web-api:v1.4.0"),)))
    assert refusal is not None and refusal.reason == "policy"
    assert "apps/web-api/overlays/prod runs registry.example.com/acme/web-api" in refusal.message


@pytest.mark.parametrize(("path", "held"), [
    ("apps/legacy/overlays/prod", True),
    ("apps/legacy/overlays/prod-eu", True),
    ("apps/legacy/overlays/dev", False),
    ("apps/legacy/overlays/production", False),
    ("apps/legacy-two/overlays/prod", False),
], ids=["held", "sibling-of-held-prod", "other-env", "prefix-is-not-a-sibling", "other-app"])
def test_holds(policy: Policy, path: str, held: bool) -> None:
    legacy = "registry.example.com/acme/legacy"
    req = request(path=path, image=f"{legacy}:v2.0.0", version="v2.0.0", source="",
                  running=((path, f"{legacy}:v1.0.0"),))
    refusal = policy.check(req)
    assert reason(refusal) == ("held" if held else None), refusal
    if refusal is not None:
        assert refusal.message == (f"{path} is held since 2026-11-20T09:00:00Z by bob: being "
                                   "migrated")
        assert refusal.rule == ("gitops-release.yaml:28 (holds: apps/legacy/overlays/prod); lift "
                                "it with gitops-release unhold --path apps/legacy/overlays/prod")
    assert policy.check(DeployRequest(**{**req.__dict__, "operator": True})) is None


def test_a_deploy_writing_a_held_sibling_is_refused_whole() -> None:
    policy = parse_policy("holds:\n  - {path: apps/checkout/overlays/prod-us, reason: r, "
                          "since: 2026-11-20T09:00:00Z, by: bob}\n")
    req = request(running=((PROD, f"{REPO}:v1.4.0"), ("apps/checkout/overlays/prod-us",
                                                       f"{REPO}:v1.4.0")))
    refusal = policy.check(req)
    assert refusal is not None and refusal.reason == "held"
    assert refusal.message.startswith("apps/checkout/overlays/prod-us is held")


def test_a_fan_out_sibling_is_checked_by_its_own_app_rule() -> None:
    """prod-eu's own rule allows another source and another image repository than prod's: a
    deploy to prod (fanned out to prod-eu) was checked against prod's rule alone, and rewrote
    prod-eu's image."""
    policy = parse_policy(
        "apps:\n  - match: apps/checkout/overlays/prod-eu\n    sources: [acme/checkout-eu]\n"
        "    images: [eu.example.com/acme/checkout]\n  - match: apps/checkout/**\n"
        "    sources: [acme/checkout]\n    images: [registry.example.com/acme/checkout]\n")
    eu = "apps/checkout/overlays/prod-eu"
    both = ((PROD, f"{REPO}:v1.4.0"), (eu, "eu.example.com/acme/checkout:v1.4.0"))
    refusal = policy.check(request(running=both))
    assert refusal is not None and refusal.reason == "policy", refusal
    assert refusal.message == f"acme/checkout may not deploy {eu}; allowed sources: " \
        "acme/checkout-eu", refusal
    assert "fan-out deploys every overlay or none" in refusal.hint
    refusal = policy.check(request(running=both, source="acme/checkout-eu"))
    assert refusal is not None and refusal.message.startswith(
        "acme/checkout-eu may not deploy apps/checkout/overlays/prod;"), refusal
    # with sources that allow both, the images: prod-eu runs only the EU mirror's
    open_sources = parse_policy(
        "apps:\n  - match: apps/checkout/overlays/prod-eu\n"
        "    images: [eu.example.com/acme/checkout]\n  - match: apps/checkout/**\n"
        "    images: [registry.example.com/acme/checkout]\n")
    refusal = open_sources.check(request(running=both))
    assert refusal is not None and refusal.message == (
        f"{eu} may run only eu.example.com/acme/checkout images; the release brings {REPO}")
    assert open_sources.check(request()) is None


def test_build_metadata_does_not_hide_a_prerelease_tag() -> None:
    """web@1.1.0+rc.1 with the tag 1.1.0-rc.1 (a tag has no '+'): the version compares as
    1.1.0 (build metadata dropped), the same as the 1.1.0 running, while the image deployed is
    the prerelease 1.1.0-rc.1, older: a downgrade past the guard."""
    refusal = Policy().check(request("1.1.0+rc.1", image=f"{REPO}:1.1.0-rc.1",
                                     running=((PROD, f"{REPO}:1.1.0"),)))
    assert refusal is not None and refusal.reason == "downgrade", refusal
    assert refusal.message == f"1.1.0-rc.1 is older than 1.1.0, which {PROD} runs"
    assert Policy().check(request("1.2.0+build.7", image=f"{REPO}:1.2.0-build.7",
                                  running=((PROD, f"{REPO}:1.1.0"),))) is None


def test_settings_for(policy: Policy) -> None:
    assert policy.settings_for(PROD) == TargetSettings(
        container="checkout", release_env="CHECKOUT_RELEASE", helm_tag_key="image.version",
        write_mode="pull-request", app_rule="gitops-release.yaml:3",
        environment_rule="gitops-release.yaml:18")
    assert policy.settings_for("apps/web-api/overlays/dev") == TargetSettings(
        workload="web-api", app_rule="gitops-release.yaml:10")
    assert Policy().settings_for(PROD) == TargetSettings()


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("apps/checkout/**", "apps/checkout/overlays/prod", True),
    ("apps/checkout/**", "apps/checkout-two/overlays/prod", False),
    ("apps/*/overlays/prod", "apps/checkout/overlays/prod", True),
    ("apps/*/overlays/prod", "apps/a/b/overlays/prod", False),
    ("apps/**/prod", "apps/a/b/overlays/prod", True),
    ("apps/checkout/overlays/prod*", "apps/checkout/overlays/prod-eu", True),
    ("apps/checkout/", "apps/checkout", True),
    # the folder itself (a chart at apps/checkout): its sources rule was skipped
    ("apps/checkout/**", "apps/checkout", True),
    ("apps/*/**", "apps/web", True),
    ("apps/*/**", "apps", False),
    ("apps/checkout/**", "apps/checkoutx", False),
    ("**", "apps/web", True),
    ("apps/**/prod", "apps/prod", True),
], ids=lambda v: str(v))
def test_path_globs(pattern: str, path: str, matches: bool) -> None:
    assert path_matches(pattern, path) is matches


def test_running_from_a_planners_strings() -> None:
    assert Running.of(PROD, f"{REPO}:v1.4.0", "v1.4.0") == Running(
        PROD, parse_reference(f"{REPO}:v1.4.0", "image"), "v1.4.0")
    assert Running.of(PROD, "", None) == Running(PROD, None, None)
    assert Running.of(PROD, "{{ .Values.image }}", None) == Running(PROD, None, None)
    assert Running.of(PROD, f"{REPO}:${{TAG}}", None) == Running(PROD, None, None,
                                                                 f"{REPO}:${{TAG}}")


@pytest.mark.parametrize(("held", "path", "covered"), [
    ("apps/web/overlays/prod", "apps/web/overlays/prod", True),
    ("apps/web/overlays/prod", "apps/web/overlays/prod-eu", True),
    ("apps/web/overlays/prod", "apps/web/overlays/production", False),
    # a folder that is no overlay: the overlays below it (it held nothing)
    ("clusters/prod", "clusters/prod/web", True),
    ("clusters/prod", "clusters/prod/apps/web", True),
    ("clusters/prod", "clusters/production/web", False),
    ("clusters/prod", "clusters", False),
], ids=lambda v: str(v))
def test_a_hold_covers(held: str, path: str, covered: bool) -> None:
    assert Hold(held, "r", "2026-11-20T09:00:00Z", "alice", "x").covers(path) is covered


@pytest.mark.parametrize(("text", "path", "expected", "words"), [
    ("holds:\n  - {path: apps/Checkout/overlays/prod, reason: incident, "
     "since: 2026-11-20T09:00:00Z, by: bob}\n", PROD, "held",
     "apps/checkout/overlays/prod is held as 'apps/Checkout/overlays/prod', which names it in "
     "another case"),
    ("holds:\n  - {path: APPS/checkout, reason: incident, since: 2026-11-20T09:00:00Z, by: bob}\n",
     PROD, "held", "is held as 'APPS/checkout'"),
    ("apps:\n  - match: apps/Checkout/**\n    sources: [acme/checkout]\n", PROD, "policy",
     "the app rule 'apps/Checkout/**' matches apps/checkout/overlays/prod only ignoring case"),
    ("environments:\n  - match: PROD\n    freeze:\n      - {cron: '* * * * *', reason: r}\n",
     PROD, "policy", "the environment rule 'PROD' matches prod only ignoring case"),
    # an exact rule first: a later one in another case is not this overlay's rule
    ("apps:\n  - match: apps/checkout/**\n  - match: apps/CHECKOUT/**\n", PROD, None, ""),
    ("environments:\n  - match: prod\n  - match: Prod\n", PROD, None, ""),
    ("holds:\n  - {path: apps/checkout/overlays/dev, reason: r, since: 2026-11-20T09:00:00Z, "
     "by: bob}\n", PROD, None, ""),
], ids=["hold-path", "hold-folder", "app-rule", "environment-rule", "exact-app-rule-first",
        "exact-environment-rule-first", "another-overlay"])
def test_a_rule_or_hold_naming_the_overlay_in_another_case_refuses(
        text: str, path: str, expected: str | None, words: str) -> None:
    """A freeze under `match: PROD`, a hold on apps/Checkout/...: as written they apply to
    nothing (paths and folder names are case-sensitive), and the deploy they were meant to stop
    went through without a word."""
    refusal = parse_policy(text).check(request(path=path))
    assert reason(refusal) == expected, refusal
    if refusal is not None:
        assert words in refusal.message
        assert "Correct the" in refusal.hint


def test_a_hold_on_a_folder_of_its_own_spelling_holds_that_one() -> None:
    """apps/Web/prod and apps/web/prod are both folders: the hold on apps/Web/prod holds that
    one, and the deploy of apps/web/prod is not refused as misspelt (it was)."""
    import dataclasses

    policy = parse_policy("holds:\n  - {path: apps/Checkout/overlays/prod, reason: incident, "
                          "since: 2026-11-20T09:00:00Z, by: bob}\n")
    assert reason(policy.check(request(path=PROD))) == "held"  # not looked up: misspelt
    looked_up = dataclasses.replace(policy, holds=tuple(
        dataclasses.replace(h, exists=True) for h in policy.holds))
    assert looked_up.check(request(path=PROD)) is None
