"""Group commit's pieces: the request's wire format, the queue order, and the chain of commits a
carrier writes with one fast-import (real git)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gitops_release.gitops import (
    Author,
    Git,
    NewCommit,
    plain_identity,
    prepare_commits,
    write_commits,
)
from gitops_release.groupcommit import BATCH, GroupCommit, Options, Request, _id_time, new_id
from tests.harness.gitrepo import make_repo


def test_request_round_trips_and_holds_no_token() -> None:
    request = Request("new-image", {"image": "r/a:v1", "release": "a@v1", "path": "apps/a"})
    again = Request.from_json(request.to_json(), "42")
    assert (again.event, dict(again.inputs), again.id) == ("new-image", dict(request.inputs), "42")


@pytest.mark.parametrize("text", [
    "[]", '{"event": "new-image"}', '{"event": "new-image", "inputs": {"image": 1}}', "{",
], ids=["not-object", "no-inputs", "non-string-input", "not-json"])
def test_malformed_requests_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Request.from_json(text, "1")


def test_ids_sort_by_time_of_queueing() -> None:
    first = new_id()
    time.sleep(0.001)
    second = new_id()
    assert first < second
    assert abs(_id_time(first) - time.time()) < 5
    assert _id_time("not-a-time") == 0.0


def test_the_first_in_line_carries_and_a_stalled_head_lets_the_next_carry(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repos", "acme", "config")
    git = Git(repo.work, {})
    group = GroupCommit(git, git.upstream(), lambda r, mine: None, Options(60, stale=10),  # type: ignore[arg-type,return-value]
                        lambda _: None)
    a, b, c = new_id(), new_id(), new_id()
    # a queue that just formed: only the first carries
    assert group._stalled([a, b, c], progress=0.0) == 0
    # the head was queued a minute ago and nothing moved since: 10 s + 0.5 s per queued deploy
    # of patience each (11.5 s here), so five more in line may carry too
    old = f"{time.time_ns() - 60 * 10**9:020d}-dead0000"
    assert group._stalled([old, a, b], progress=0.0) == 5
    # a carry landed a moment ago: progress, so only the first again
    assert group._stalled([old, a, b], progress=time.time()) == 0


def test_the_next_carrier_looks_often_the_rest_of_a_long_queue_less(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repos", "acme", "config")
    git = Git(repo.work, {})
    group = GroupCommit(git, git.upstream(), lambda r, mine: None, Options(60),  # type: ignore[arg-type,return-value]
                        lambda _: None)
    # the waits grow by half from the first (0.2 s) ...
    assert group._next_delay(100, 200, 0.2) == pytest.approx(0.3)
    # ... up to 10 s far back in a queue of 200 (0.05 s per queued deploy) ...
    assert group._next_delay(60, 200, 30.0) == pytest.approx(10.0)
    assert group._next_delay(130, 200, 30.0) == pytest.approx(10.0)
    assert group._next_delay(190, 400, 30.0) == pytest.approx(20.0)
    # ... but where the next carrier is, at most the longest poll (2 s), even after a long
    # wait: the batch being carried and the one right after it (the carrier may have found a
    # shorter queue), and those about a batch further back each, who move up with each push
    for place in (0, 1, 17, BATCH, BATCH + 1, 2 * BATCH - 1, 2 * BATCH, 2 * BATCH + 2,
                  3 * BATCH, 4 * BATCH + 1):
        assert group._next_delay(place, 200, 30.0) == pytest.approx(2.0), place
    # a short queue: the longest poll for everyone
    assert group._next_delay(25, 30, 30.0) == pytest.approx(2.0)


def test_write_commits_chains_them_without_touching_the_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repos", "acme", "config")
    git = Git(repo.work, {})
    tip = git.rev("HEAD")
    bot = Author("github-actions[bot]", "bot@example.com")
    shas = write_commits(git, [
        NewCommit(tip, "Deploy a@v1\n\nImage: r/a:v1\n", bot, {"apps/a.yaml": ("100644", b"a: 1\n")}),
        NewCommit(tip, "Deploy b@v1\n", bot, {"apps/b c.yaml": ("100755", b"b: 1\n"),
                                               "README.md": ("100644", b"# new\n")}),
    ], chain=True)
    assert repo.git("rev-list", "--parents", "-n", "1", shas[1]).split() == [shas[1], shas[0]]
    assert repo.git("rev-list", "--parents", "-n", "1", shas[0]).split() == [shas[0], tip]
    assert repo.git("show", f"{shas[1]}:apps/a.yaml") == "a: 1\n"
    assert repo.git("ls-tree", shas[1], "apps/b c.yaml").split()[0] == "100755"
    assert repo.git("log", "-1", "--format=%an <%ae>%n%B", shas[0]) == (
        "github-actions[bot] <bot@example.com>\nDeploy a@v1\n\nImage: r/a:v1\n\n")
    assert repo.git("rev-parse", "HEAD").strip() == tip
    assert repo.git("status", "--porcelain") == ""
    assert repo.git("for-each-ref", "refs/gitops-release-import/") == ""


def test_commits_prepared_ahead_are_used_once_and_only_for_the_same_content(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare_commits writes objects only; write_commits of exactly the same commits returns
    them without running git fast-import again; other content is written anew."""
    repo = make_repo(tmp_path / "repos", "acme", "config")
    git = Git(repo.work, {})
    tip = git.rev("HEAD")
    bot = Author("github-actions[bot]", "bot@example.com")
    commit = NewCommit(tip, "Deploy a@v1\n", bot, {"apps/a.yaml": ("100644", b"a: 1\n")})
    prepare_commits(repo.work, dict(os.environ), [commit], chain=True)
    assert repo.git("for-each-ref", "refs/gitops-release-import/") == ""
    assert repo.git("rev-parse", "HEAD").strip() == tip and repo.git("status", "--porcelain") == ""
    fed: list[list[str]] = []
    feed = Git.feed
    monkeypatch.setattr(Git, "feed", lambda self, args, data: fed.append(list(args))
                        or feed(self, args, data))
    [sha] = write_commits(git, [commit], chain=True)
    assert fed == [] and repo.git("show", f"{sha}:apps/a.yaml") == "a: 1\n"
    [again] = write_commits(git, [commit], chain=True)  # used once: written anew
    other = NewCommit(tip, "Deploy a@v1\n", bot, {"apps/a.yaml": ("100644", b"a: 2\n")})
    [changed] = write_commits(git, [other], chain=True)
    assert len(fed) == 2 and repo.git("show", f"{changed}:apps/a.yaml") == "a: 2\n"
    assert repo.git("rev-parse", f"{again}^{{tree}}") == repo.git("rev-parse", f"{sha}^{{tree}}")


@pytest.mark.parametrize(("name", "email", "plain"), [
    ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com", True),
    ("a<b", "x@y", False), (" padded", "x@y", False), ("ok", "x\n@y", False), (".", "x@y", False),
])
def test_plain_identity(name: str, email: str, plain: bool) -> None:
    assert plain_identity(Author(name, email)) is plain
