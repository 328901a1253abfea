"""Adding and removing a hold changes only the hold's lines of gitops-release.yaml: golden
pairs, byte for byte, and a round trip back to the original."""

from __future__ import annotations

import pytest

from gitops_release.errors import InputError, PolicyError
from gitops_release.holds import NEW_FILE_HEADER, NewHold, delete_hold, insert_hold, verify
from gitops_release.policyfile import parse_policy

HOLD = NewHold("apps/web-api/overlays/prod", 'bad "release": 1.5', "2026-11-26T10:00:00Z", "alice",
               "v1.4.0")
ENTRY = ('  - path: apps/web-api/overlays/prod\n    reason: "bad \\"release\\": 1.5"\n'
         '    since: "2026-11-26T10:00:00Z"\n    by: "alice"\n    version: v1.4.0\n')

RULES = """\
# Platform team owns this file.
apps:
  - match: apps/web-api/**   # web team
    sources: [acme/web-api]

environments:
  - {match: 'prod*', version-scheme: semver}
"""
HELD = """\
holds:
    -   path: apps/checkout/overlays/prod    # INC-1
        reason: 'checkout incident'
        since: 2026-11-20T09:00:00Z
        by: bob

# trailing comment stays
"""


def test_first_hold_creates_the_file() -> None:
    text = insert_hold(None, HOLD)
    assert text == NEW_FILE_HEADER + "holds:\n" + ENTRY
    assert [h.path for h in parse_policy(text).holds] == [HOLD.path]


def test_a_file_without_holds_gets_the_section_appended() -> None:
    assert insert_hold(RULES, HOLD) == RULES + "holds:\n" + ENTRY
    assert insert_hold(RULES.rstrip("\n"), HOLD) == RULES + "holds:\n" + ENTRY


def test_an_entry_follows_the_style_of_the_last_one() -> None:
    new = insert_hold(HELD, HOLD)
    assert new == HELD.replace("        by: bob\n", "        by: bob\n" + (
        '    -   path: apps/web-api/overlays/prod\n        reason: "bad \\"release\\": 1.5"\n'
        '        since: "2026-11-26T10:00:00Z"\n        by: "alice"\n        version: v1.4.0\n'))
    assert delete_hold(new, HOLD.path) == HELD


@pytest.mark.parametrize("empty", ["holds: []", "holds:", "holds: ~"], ids=["flow", "null", "tilde"])
def test_an_empty_holds_key_becomes_a_block_list(empty: str) -> None:
    text = RULES + empty + "   # none yet\n"
    new = insert_hold(text, HOLD)
    assert new == RULES + "holds:   # none yet\n" + ENTRY
    assert delete_hold(new, HOLD.path) == RULES + "holds: []   # none yet\n"


def test_removing_the_last_hold_leaves_an_empty_list() -> None:
    assert delete_hold(RULES + "holds:\n" + ENTRY, HOLD.path) == RULES + "holds: []\n"


def test_removing_a_middle_hold_keeps_the_others_byte_for_byte() -> None:
    other = ENTRY.replace("web-api", "report-job")
    text = "holds:\n" + ENTRY.replace("web-api", "checkout") + ENTRY + other + "apps: []\n"
    assert delete_hold(text, HOLD.path) == ("holds:\n" + ENTRY.replace("web-api", "checkout")
                                            + other + "apps: []\n")


def test_crlf_files_stay_crlf() -> None:
    text = RULES.replace("\n", "\r\n")
    new = insert_hold(text, HOLD)
    assert new == text + ("holds:\n" + ENTRY).replace("\n", "\r\n")
    assert delete_hold(new, HOLD.path) == text + "holds: []\r\n"


def test_unheld_path_is_an_error_naming_the_input() -> None:
    with pytest.raises(InputError, match="input 'path': apps/x/overlays/prod is not held"):
        delete_hold(HELD, "apps/x/overlays/prod")
    with pytest.raises(InputError, match="is not held"):
        delete_hold("", "apps/x/overlays/prod")


@pytest.mark.parametrize("text", ["holds: [{path: a, reason: r, since: 2026-11-20T09:00:00Z, "
                                  "by: b}]\n", "{holds: []}\n"], ids=["flow-list", "flow-top"])
def test_flow_style_is_not_edited(text: str) -> None:
    with pytest.raises(PolicyError, match="block"):
        insert_hold(text, HOLD)


def test_verify_refuses_an_edit_that_changed_something_else() -> None:
    policy = parse_policy(RULES)
    new = insert_hold(RULES, HOLD)
    assert [h.path for h in verify(RULES, new, policy, [HOLD.path]).holds] == [HOLD.path]
    with pytest.raises(PolicyError, match="does not read back as written"):
        verify(RULES, new.replace("acme/web-api", "acme/evil"), policy, [HOLD.path])
    with pytest.raises(PolicyError, match="does not read back as a valid policy"):
        verify(RULES, new + "bogus: 1\n", policy, [HOLD.path])
