"""gitops-release.yaml: malformed files fail with file:line and what is wrong; the JSON Schema in
schemas/ and the validator agree on every example; freeze windows read as documented."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from gitops_release import yamledit as y
from gitops_release.errors import PathError, PolicyError
from gitops_release.freeze import FreezeSyntaxError, parse_cron
from gitops_release.policy import Policy
from gitops_release.policyfile import load_policy, parse_policy, to_data
from tests.harness.services import REPO_ROOT

SCHEMA = json.loads((REPO_ROOT / "schemas" / "gitops-release.schema.json").read_text())
EXAMPLE = REPO_ROOT / "examples" / "policy" / "gitops-release.yaml"
HOLD = "holds:\n  - path: apps/a/overlays/prod\n    reason: r\n    since: 2026-11-26T10:00:00Z\n"

# (id, file text, the error (None: valid), whether JSON Schema can say it too)
CASES: list[tuple[str, str, str | None, bool]] = [
    ("empty", "", None, True),
    ("comments-only", "# nothing yet\n", None, True),
    ("version-1", "version: 1\n", None, True),
    ("holds-empty-flow", "holds: []\n", None, True),
    ("full-example", EXAMPLE.read_text(), None, True),
    ("top-level-list", "- apps\n", "gitops-release.yaml:1: (top level): must be a mapping", True),
    ("unknown-top-key", "version: 1\napp:\n  - match: x\n",
     "gitops-release.yaml:2: (top level): unknown key 'app'; known keys: version, apps, "
     "environments, holds", True),
    ("version-2", "version: 2\n", "gitops-release.yaml:1: version: must be 1", True),
    ("version-true", "version: true\n", "gitops-release.yaml:1: version: must be 1", True),
    ("apps-not-a-list", "apps:\n  match: x\n", "gitops-release.yaml:2: apps: must be a list", True),
    ("app-without-match", "apps:\n  - sources: [acme/a]\n",
     "gitops-release.yaml:2: apps[0]: the key 'match' is required", True),
    ("unknown-app-key", "apps:\n  - match: apps/a/**\n    source: [acme/a]\n",
     "gitops-release.yaml:3: apps[0]: unknown key 'source'; known keys: match, sources, images, "
     "verify-source, target", True),
    ("source-not-owner-name", "apps:\n  - match: apps/a/**\n    sources: [acme]\n",
     "gitops-release.yaml:3: apps[0].sources[0]: 'acme' is not owner/name", True),
    ("sources-a-string", "apps:\n  - match: apps/a/**\n    sources: acme/a\n",
     "gitops-release.yaml:3: apps[0].sources: must be a list", True),
    ("image-with-space", "apps:\n  - match: apps/a/**\n    images: ['a b']\n",
     "apps[0].images[0]: 'a b' is not an image repository", True),
    ("unknown-helm-key", "apps:\n  - match: apps/a/**\n    target:\n      helm:\n        tag: x\n",
     "gitops-release.yaml:5: apps[0].target.helm: unknown key 'tag'", True),
    ("container-not-dns", "apps:\n  - match: apps/a/**\n    target: {container: Web_API}\n",
     "apps[0].target.container: 'Web_API' is not a container name", True),
    ("max-attempts-out-of-range", "apps:\n  - match: a/**\n    target: {max-attempts: 50}\n",
     "apps[0].target.max-attempts: must be a whole number from 1 to 20", True),
    ("verify-source-bad", "apps:\n  - match: a/**\n    verify-source: yes\n",
     "apps[0].verify-source: 'yes' is not one of off, auto, required", True),
    ("scheme-bad", "environments:\n  - match: prod*\n    version-scheme: calver\n",
     "gitops-release.yaml:3: environments[0].version-scheme: 'calver' is not one of semver, "
     "timestamp, keep, any", True),
    ("forced-not-bool", "environments:\n  - match: prod*\n    allow-forced-downgrade: 'no'\n",
     "environments[0].allow-forced-downgrade: must be true or false", True),
    ("env-match-with-slash", "environments:\n  - match: apps/prod\n",
     "environments[0].match: 'apps/prod' is not an overlay folder name glob", True),
    ("write-mode-bad", "environments:\n  - match: prod\n    write-mode: pr\n",
     "'pr' is not one of push, pull-request", True),
    ("freeze-without-reason", "environments:\n  - match: prod\n    freeze:\n      - cron: "
     "'* * * * sat'\n", "gitops-release.yaml:4: environments[0].freeze[0]: the key 'reason' is "
     "required", True),
    ("freeze-cron-and-dates", "environments:\n  - match: prod\n    freeze:\n      - cron: "
     "'* * * * sat'\n        from: 2026-12-01\n        until: 2026-12-02\n        reason: r\n",
     "environments[0].freeze[0]: give either cron, or from and until", True),
    ("freeze-from-only", "environments:\n  - match: prod\n    freeze:\n      - from: 2026-12-01\n"
     "        reason: r\n", "a date range needs both from and until", True),
    ("freeze-four-fields", "environments:\n  - match: prod\n    freeze:\n      - cron: '* * * "
     "sat'\n        reason: r\n", "environments[0].freeze[0].cron: '* * * sat' is not five cron "
     "fields", True),
    ("freeze-date-format", "environments:\n  - match: prod\n    freeze:\n      - from: 1.12.2026\n"
     "        until: 2026-12-02\n        reason: r\n", "gitops-release.yaml:4: environments[0]."
     "freeze[0].from: '1.12.2026' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z", True),
    ("hold-missing-by", HOLD, "gitops-release.yaml:2: holds[0]: the key 'by' is required", True),
    ("hold-since-a-date", HOLD.replace("2026-11-26T10:00:00Z", "2026-11-26") + "    by: me\n",
     "holds[0].since: '2026-11-26' is not YYYY-MM-DDTHH:MM[:SS]Z", True),
    ("hold-path-with-dotdot", HOLD.replace("apps/a", "../a") + "    by: me\n",
     "holds[0].path: '../a/overlays/prod' is not an overlay folder", True),
    ("hold-version-a-number", HOLD + "    by: me\n    version: 1.4\n",
     "gitops-release.yaml:6: holds[0].version: must be a non-empty string; quote it: '1.4'", True),
    ("reason-multiline", HOLD.replace("reason: r", "reason: |\n      a\n      b") + "    by: me\n",
     "holds[0].reason: must be one line", True),
    # the validator checks more than a JSON Schema can say
    ("cron-minute-60", "environments:\n  - match: prod\n    freeze:\n      - cron: '60 * * * *'\n"
     "        reason: r\n", "gitops-release.yaml:4: environments[0].freeze[0]: minute 60 is "
     "outside 0-59", False),
    ("date-not-real", "environments:\n  - match: prod\n    freeze:\n      - from: 2026-02-30\n"
     "        until: 2026-03-02\n        reason: r\n", "'2026-02-30' is not a real date", False),
    ("until-before-from", "environments:\n  - match: prod\n    freeze:\n      - from: 2026-03-02\n"
     "        until: 2026-03-01\n        reason: r\n", "from 2026-03-02 is not before until "
     "2026-03-01", False),
    ("hold-twice", HOLD + "    by: me\n" + HOLD.removeprefix("holds:\n") + "    by: you\n",
     "gitops-release.yaml:6: holds: apps/a/overlays/prod is held twice (first at "
     "gitops-release.yaml:2)", False),
    ("duplicate-key", "apps: []\napps: []\n", "has the key 'apps' twice", False),
    ("not-yaml", "apps: [\n", "gitops-release.yaml is not valid YAML", False),
    ("two-documents", "apps: []\n---\nholds: []\n", "holds 2 YAML documents", False),
]


def _schema_valid(text: str) -> bool:
    docs = y.compose(text, "gitops-release.yaml")
    data = to_data(docs[0]) if docs else {}
    try:
        jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize(("text", "error"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_validator(text: str, error: str | None) -> None:
    if error is None:
        assert isinstance(parse_policy(text), Policy)
        return
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert error in caught.value.message


@pytest.mark.parametrize(("text", "error"), [(c[1], c[2]) for c in CASES if c[3]],
                         ids=[c[0] for c in CASES if c[3]])
def test_schema_agrees_with_the_validator(text: str, error: str | None) -> None:
    assert _schema_valid(text) is (error is None)


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_all_errors_are_reported_together() -> None:
    text = "apps:\n  - match: a/**\n    sources: [x]\nenvironments:\n  - match: prod\n    bad: 1\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.message.splitlines() == [
        "gitops-release.yaml:3: apps[0].sources[0]: 'x' is not owner/name (globs allowed, e.g. "
        "acme/*)",
        "gitops-release.yaml:6: environments[0]: unknown key 'bad'; known keys: match, "
        "version-scheme, allow-forced-downgrade, write-mode, freeze"]


def test_load_policy_from_a_checkout(tmp_path: Path) -> None:
    assert load_policy(tmp_path) == Policy()
    (tmp_path / "gitops-release.yaml").write_text("holds: []\n")
    assert load_policy(tmp_path) == Policy(filename="gitops-release.yaml")
    (tmp_path / "gitops-release.yml").write_text("holds: []\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    assert caught.value.message == ("gitops-release.yml is not read; the policy file is "
                                    "gitops-release.yaml")


def test_a_symlinked_policy_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text("holds: []\n")
    (tmp_path / "gitops-release.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(PathError, match="symlink"):
        load_policy(tmp_path)


# -- freeze windows ---------------------------------------------------------------------------

def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(("cron", "when", "frozen"), [
    ("* 16-23 * * fri", "2026-11-27 16:00", True),
    ("* 16-23 * * fri", "2026-11-27 23:59", True),
    ("* 16-23 * * fri", "2026-11-27 15:59", False),
    ("* 16-23 * * fri", "2026-11-28 16:00", False),
    ("* * * * sat,sun", "2026-11-29 12:00", True),
    ("* * * * 0", "2026-11-29 12:00", True),
    ("* * * * 7", "2026-11-29 12:00", True),
    ("* * * * 1-5", "2026-11-29 12:00", False),
    ("*/15 * * * *", "2026-11-29 12:30", True),
    ("*/15 * * * *", "2026-11-29 12:31", False),
    ("* * 24-26 dec *", "2026-12-25 08:00", True),
    ("* * 24-26 dec *", "2026-11-25 08:00", False),
    ("* * 1 * mon", "2026-11-30 08:00", True),  # cron: day-of-month OR day-of-week
    ("* * 1 * mon", "2026-12-01 08:00", True),
    ("* * 1 * mon", "2026-12-02 08:00", False),
    ("0-29/10 9 * * *", "2026-12-02 09:20", True),
    ("0-29/10 9 * * *", "2026-12-02 09:30", False),
], ids=lambda v: str(v))
def test_cron_windows(cron: str, when: str, frozen: bool) -> None:
    assert parse_cron(cron).matches(at(when)) is frozen


@pytest.mark.parametrize(("cron", "error"), [
    ("* * * *", "has 4 fields"),
    ("* 24 * * *", "hour 24 is outside 0-23"),
    ("* * * * funday", "day-of-week 'funday' is not a number from 0 to 7 or a name"),
    ("* 5-3 * * *", "hour range '5-3' runs backwards"),
    ("*/0 * * * *", "minute step 0 is outside 1-60"),
], ids=lambda v: str(v))
def test_cron_errors(cron: str, error: str) -> None:
    with pytest.raises(FreezeSyntaxError, match=error):
        parse_cron(cron)
