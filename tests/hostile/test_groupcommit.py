"""Group commit against real bare origins: deploys that lose the race queue as pending refs and
one push carries them; a carrier killed mid-way loses nothing; a deploy refused while carried is
reported to its own job; overlapping waves all land, one commit each; a remote that refuses our
refs gets the plain loop. Every wait is bounded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from gitops_release.delivery import NOT_CARRIED
from gitops_release.groupcommit import PENDING, RESULT, Request
from gitops_release.receiverspec import receiver_inputs
from tests.harness.gitrepo import GitRepo, git, make_repo
from tests.harness.outputs import read_outputs
from tests.hostile.conftest import (
    REPO_ROOT,
    assert_only_fast_forwards,
    record_ref_updates,
    step_files_and_env,
    write_app,
)

APPS = [f"app{i:02d}" for i in range(20)]
TIMEOUT = 240


class Step:
    def __init__(self, command: str, inputs: Mapping[str, str], cwd: Path) -> None:
        files, env = step_files_and_env(cwd.parent / f"{cwd.name}-{time.time_ns()}", inputs)
        self.output = files["output"]
        self.proc = subprocess.Popen([sys.executable, "-m", "gitops_release", command], cwd=cwd,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.stdout = ""

    def finish(self) -> int:
        try:
            self.stdout = self.proc.communicate(timeout=TIMEOUT)[0]
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    @property
    def outputs(self) -> dict[str, str]:
        return read_outputs(self.output.read_text(encoding="utf-8"))


def inputs(app: str, version: str, **extra: str) -> dict[str, str]:
    return {"image": f"registry.example.com/{app}:{version}", "release": f"{app}@{version}",
            "path": f"apps/{app}/overlays/dev", **extra}


def clone(repo: GitRepo, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(repo.bare), str(where))
    return where


def wait_for(condition: object, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def pending(repo: GitRepo) -> list[str]:
    return repo.origin_git("for-each-ref", "--format=%(refname)", PENDING).split()


def piped(cwd: Path, text: str, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, input=text, capture_output=True, text=True,
                          check=True).stdout.strip()


def queue(repo: GitRepo, app: str, version: str, age: float, renders: str = "",
          **extra: str) -> str:
    """A deploy queued ``age`` seconds ago by a receiver that is gone: its pending ref, in the
    receiver's own wire format (with the renders its own plan made, when given)."""
    request = Request("new-image", inputs(app, version, **extra))
    blob = piped(repo.bare, request.to_json(), "hash-object", "-w", "--stdin")
    listing = f"100644 blob {blob}\trequest.json\n"
    if renders:
        shared = piped(repo.bare, renders, "hash-object", "-w", "--stdin")
        listing += f"100644 blob {shared}\trenders.json\n"
    tree = piped(repo.bare, listing, "mktree")
    commit = git(repo.bare, "commit-tree", tree, "-m", "Pending deploy").strip()
    pid = f"{time.time_ns() - int(age * 1e9):020d}-{os.urandom(4).hex()}"
    git(repo.bare, "update-ref", f"{PENDING}{pid}", commit)
    return pid


@pytest.fixture
def apps_repo(tmp_path: Path) -> GitRepo:
    template = tmp_path / "template"
    for app in APPS:
        write_app(template, app, overlays=("dev",))
    repo = make_repo(tmp_path / "repos", "acme", "k8s-configurations", template)
    record_ref_updates(repo)
    return repo


def deploys_on_origin(repo: GitRepo) -> list[str]:
    return [s for s in repo.origin_log() if s.startswith("Deploy ")]


def test_a_carrier_killed_mid_way_loses_nothing(apps_repo: GitRepo, tmp_path: Path) -> None:
    repo = apps_repo
    since = repo.origin_head()
    queued = [queue(repo, app, "v2.0.0", age=120) for app in APPS[:3]]
    runner = clone(repo, tmp_path / "carrier")
    marker = tmp_path / "carrying"
    hook = runner / ".git" / "hooks" / "pre-push"
    # Stop the carrier inside its one atomic push (branch + pending refs), then it is killed.
    hook.write_text(f"""#!/bin/sh
lines=$(cat)
case "$lines" in *refs/heads/*refs/gitops-release/pending/*|*refs/gitops-release/pending/*refs/heads/*)
  touch {marker}; sleep 60;;
esac
exit 0
""", encoding="utf-8")
    hook.chmod(0o755)
    carrier = Step("image-update", inputs(APPS[3], "v2.0.0"), runner)
    wait_for(marker.exists, "the carrier's push", limit=TIMEOUT)
    os.killpg(carrier.proc.pid, signal.SIGKILL)
    carrier.finish()
    # nothing of the carry reached the origin; every queued deploy is still queued
    assert repo.origin_head() == since
    assert {f"{PENDING}{pid}" for pid in queued} <= set(pending(repo))
    hook.unlink()
    rerun = Step("image-update", inputs(APPS[3], "v2.0.0"), runner)
    assert rerun.finish() == 0, rerun.stdout
    assert sorted(deploys_on_origin(repo)) == [f"Deploy {app}@v2.0.0" for app in APPS[:4]]
    assert pending(repo) == []
    for pid in queued:
        assert repo.origin_git("for-each-ref", f"{RESULT}{pid}") != ""
    assert repo.origin_git("rev-list", "--merges", "main") == ""
    assert_only_fast_forwards(repo, since)
    assert git(runner, "status", "--porcelain") == ""


def test_a_deploy_refused_while_carried_is_reported_to_its_own_job(
        apps_repo: GitRepo, tmp_path: Path) -> None:
    repo = apps_repo
    app, other = APPS[0], APPS[1]
    newer = clone(repo, tmp_path / "newer")
    made = Step("image-update", inputs(app, "v1.6.0", push="false"), newer)
    assert made.finish() == 0, made.stdout
    release = tmp_path / "release"
    # The origin holds the push that queues web@v1.5.0 until the test releases it, so that
    # another receiver carries it meanwhile (as when its runner is slow).
    post = repo.bare / "hooks" / "post-receive"
    post.write_text(f"""#!/bin/sh
while read old new ref; do
  case "$ref" in refs/gitops-release/pending/*)
    if git cat-file blob "$new:request.json" | grep -q '{app}@v1.5.0'; then
      n=0; while [ ! -e {release} ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done
    fi;;
  esac
done
""", encoding="utf-8")
    post.chmod(0o755)
    slow = clone(repo, tmp_path / "slow")
    pre = slow / ".git" / "hooks" / "pre-push"
    # Its first push loses: the newer release lands just before it.
    pre.write_text(f"""#!/bin/sh
[ -e {tmp_path}/raced ] && exit 0
touch {tmp_path}/raced
git -C {newer} push -q origin HEAD:main
""", encoding="utf-8")
    pre.chmod(0o755)
    refused = Step("image-update", inputs(app, "v1.5.0"), slow)
    wait_for(lambda: pending(repo), "the queued deploy", limit=TIMEOUT)
    carrier = Step("image-update", inputs(other, "v2.0.0"), clone(repo, tmp_path / "carrier"))
    assert carrier.finish() == 0, carrier.stdout
    assert carrier.outputs["changed"] == "true"
    release.touch()
    assert refused.finish() == 0, refused.stdout
    assert refused.outputs["refused"] == "true" and refused.outputs["changed"] == "false"
    assert "::notice title=Downgrade refused::" in refused.stdout
    # its clone is on a commit of the remote, clean: a rerun there works
    assert git(slow, "status", "--porcelain") == ""
    assert git(repo.bare, "merge-base", "--is-ancestor", git(slow, "rev-parse", "HEAD").strip(),
               "main") == ""
    assert "v1.5.0 is older than v1.6.0" in refused.stdout
    assert deploys_on_origin(repo) == [f"Deploy {other}@v2.0.0", f"Deploy {app}@v1.6.0"]
    assert pending(repo) == []


def test_two_overlapping_waves_all_land_one_commit_each(apps_repo: GitRepo,
                                                        tmp_path: Path) -> None:
    repo = apps_repo
    since = repo.origin_head()
    runners = [clone(repo, tmp_path / f"runner-{app}") for app in APPS]
    first = [Step("image-update", inputs(app, "v3.0.0"), r)
             for app, r in zip(APPS[:10], runners[:10], strict=True)]
    time.sleep(1.0)
    second = [Step("image-update", inputs(app, "v3.0.0"), r)
              for app, r in zip(APPS[10:], runners[10:], strict=True)]
    steps = first + second
    codes = [s.finish() for s in steps]
    assert codes == [0] * 20, [s.stdout for s in steps if s.proc.returncode]
    assert sorted(deploys_on_origin(repo)) == sorted(f"Deploy {app}@v3.0.0" for app in APPS)
    assert repo.origin_git("rev-list", "--merges", "main") == ""
    for app, step in zip(APPS, steps, strict=True):
        commit = step.outputs["commit"]
        assert step.outputs["changed"] == "true"
        assert repo.origin_git("log", "-1", "--format=%s", commit).strip() == f"Deploy {app}@v3.0.0"
        assert repo.origin_git("merge-base", "--is-ancestor", commit, "main") == ""
    assert pending(repo) == []
    updates = assert_only_fast_forwards(repo, since)
    assert len(updates) - 1 < 20  # some pushes carried several deploys
    assert any("carried by another deploy's push" in s.stdout for s in steps)
    for runner in runners:  # every clone clean, on a commit of the remote
        assert git(runner, "status", "--porcelain") == ""
        head = git(runner, "rev-parse", "HEAD").strip()
        assert git(repo.bare, "merge-base", "--is-ancestor", head, "main") == ""


def test_a_remote_refusing_our_refs_gets_the_plain_loop(apps_repo: GitRepo,
                                                        tmp_path: Path) -> None:
    repo = apps_repo
    hook = repo.bare / "hooks" / "pre-receive"
    hook.write_text("""#!/bin/sh
while read old new ref; do
  case "$ref" in refs/heads/*) ;; *) echo "only branches here" >&2; exit 1;; esac
done
""", encoding="utf-8")
    hook.chmod(0o755)
    runner = clone(repo, tmp_path / "runner")
    competitor = clone(repo, tmp_path / "competitor")
    pre = runner / ".git" / "hooks" / "pre-push"
    pre.write_text(f"""#!/bin/sh
[ -e {tmp_path}/raced ] && exit 0
touch {tmp_path}/raced
cd {competitor} && echo x > other.txt && git add other.txt && \\
  git -c user.name=o -c user.email=o@example.com commit -qm 'Other deploy' && git push -q origin HEAD:main
""", encoding="utf-8")
    pre.chmod(0o755)
    step = Step("image-update", inputs(APPS[0], "v2.0.0"), runner)
    assert step.finish() == 0, step.stdout
    assert "::warning title=Group commit unavailable::the remote refused " in step.stdout
    assert "only branches here" in step.stdout
    assert deploys_on_origin(repo) == [f"Deploy {APPS[0]}@v2.0.0"]
    assert step.outputs["changed"] == "true"


EXPORT = """
import os, sys
from gitops_release import render
from gitops_release.cli import main
with open(os.devnull, "w") as sink:
    code = main(sys.argv[2:], dict(os.environ), sink)
with open(sys.argv[1], "w") as f:
    f.write(render.export_renders() if code == 0 else "")
"""


def _own_renders(repo: GitRepo, tmp_path: Path, app: str, version: str) -> str:
    """What a receiver that planned ``app``'s deploy itself attaches to its pending ref."""
    where = clone(repo, tmp_path / f"planned-{app}")
    out = tmp_path / f"renders-{app}.json"
    args = ["image-update", "--image", f"registry.example.com/{app}:{version}", "--release",
            f"{app}@{version}", "--path", f"apps/{app}/overlays/dev", "--dry-run", "true"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "python")}
    subprocess.run([sys.executable, "-c", EXPORT, str(out), *args], cwd=where, env=env,
                   check=True)
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("moved", [False, True], ids=["same-files", "files-changed-since"])
def test_a_carrier_reuses_a_queued_deploys_renders_only_for_the_same_files(
        apps_repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moved: bool) -> None:
    real = shutil.which("kustomize")
    if real is None:
        pytest.skip("needs kustomize")
    calls = tmp_path / "kustomize-calls"
    wrapper = tmp_path / "bin" / "kustomize"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\n[ "$1" = build ] && echo "$PWD $*" >> {calls}\n'
                       f'exec {real} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    repo = apps_repo
    queued_app, carrier_app = APPS[0], APPS[1]
    renders = _own_renders(repo, tmp_path, queued_app, "v2.0.0")
    assert len(calls.read_text().splitlines()) == 2  # its own plan: before and after
    if moved:  # the queued deploy's overlay changed on the branch after it planned
        edit = clone(repo, tmp_path / "edit")
        patch = edit / "apps" / queued_app / "overlays" / "dev" / "deployment.yaml"
        patch.write_text(patch.read_text().replace("value: info", "value: debug"))
        git(edit, "commit", "-qam", "Log more")
        git(edit, "push", "-q", "origin", "HEAD:main")
    calls.unlink()
    pid = queue(repo, queued_app, "v2.0.0", age=120, renders=renders)
    carrier = Step("image-update", inputs(carrier_app, "v2.0.0"), clone(repo, tmp_path / "c"))
    assert carrier.finish() == 0, carrier.stdout
    assert sorted(deploys_on_origin(repo)) == [f"Deploy {a}@v2.0.0" for a in APPS[:2]]
    assert repo.origin_git("for-each-ref", f"{RESULT}{pid}") != ""
    shown = repo.origin_git("show", f"main:apps/{queued_app}/overlays/dev/deployment.yaml")
    assert f"image: registry.example.com/{queued_app}:v2.0.0" in shown
    assert ("value: debug" in shown) is moved
    # the carrier's own deploy: two renders (before, after); the queued one's: none when its
    # files are the same as when it planned, its own two when they changed
    assert len(calls.read_text().splitlines()) == (4 if moved else 2), calls.read_text()


@pytest.mark.parametrize("checkout", ["cone", "workflow"])
def test_a_carrier_in_a_sparse_checkout_adds_the_folders_of_the_deploys_it_carries(
        apps_repo: GitRepo, tmp_path: Path, checkout: str) -> None:
    """The receiver workflows check out the app's folder only; a carrier plans other apps'
    queued deploys too, so it adds their folders to the checkout first (then renders them).
    ``workflow``: a partial clone with a sparse index, as the workflows' checkout makes it."""
    repo = apps_repo
    since = repo.origin_head()
    queued = [queue(repo, app, "v2.0.0", age=120) for app in APPS[:2]]
    runner = tmp_path / "carrier"
    if checkout == "cone":
        clone(repo, runner)
        git(runner, "sparse-checkout", "set", "--cone", f"apps/{APPS[3]}")
    else:
        git(repo.bare, "config", "uploadpack.allowFilter", "true")
        git(tmp_path, "clone", "-q", "--filter=blob:none", "--no-checkout", str(repo.bare),
            str(runner))
        git(runner, "-c", "index.sparse=true", "sparse-checkout", "set", "--cone",
            f"apps/{APPS[3]}")
        git(runner, "-c", "index.sparse=true", "checkout", "-q", "main")
        git(runner, "config", "index.sparse", "true")
        git(runner, "config", "sparse.expectFilesOutsideOfPatterns", "true")
    assert not (runner / "apps" / APPS[0]).exists()
    carrier = Step("image-update", inputs(APPS[3], "v2.0.0"), runner)
    assert carrier.finish() == 0, carrier.stdout
    assert sorted(deploys_on_origin(repo)) == [f"Deploy {app}@v2.0.0" for app in
                                               (*APPS[:2], APPS[3])], carrier.stdout
    assert pending(repo) == [] and all(
        repo.origin_git("for-each-ref", f"{RESULT}{pid}") != "" for pid in queued)
    listed = git(runner, "sparse-checkout", "list").split()
    assert {f"apps/{app}" for app in (*APPS[:2], APPS[3])} <= set(listed)
    assert "v2.0.0" in (runner / "apps" / APPS[0] / "overlays" / "dev" / "deployment.yaml"
                        ).read_text()
    assert git(runner, "status", "--porcelain") == ""
    assert_only_fast_forwards(repo, since)


CHART_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: h
spec:
  template:
    spec:
      containers:
        - name: h
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: APP_RELEASEVERSION
              value: {{ .Values.release | quote }}
"""


def test_a_carrier_reports_its_own_plan_not_a_carried_copy_of_its_request(
        tmp_path: Path) -> None:
    """Helm charts in prod and prod-eu. Queued behind the carrier: a newer release to prod-eu,
    then the same event as the carrier's own (prod, fanned out to prod-eu: a duplicate
    dispatch). The carrier lands its own; the copy is refused as a downgrade in its result. The
    carrier reported the copy's plan as its own (kept under the same key): a diff of prod-eu
    from v1.2.0 that never landed and a false 'Downgrade allowed' notice."""
    template = tmp_path / "template"
    for overlay in ("prod", "prod-eu"):
        folder = template / "apps/h/overlays" / overlay
        (folder / "templates").mkdir(parents=True)
        (folder / "Chart.yaml").write_text("apiVersion: v2\nname: h\nversion: 0.1.0\n")
        (folder / "values.yaml").write_text("image:\n  repository: registry.example.com/h\n"
                                            '  tag: "v1.0.0"\nrelease: "h@v1.0.0"\n')
        (folder / "templates/deployment.yaml").write_text(CHART_TEMPLATE)
    repo = make_repo(tmp_path / "repos", "acme", "k8s-configurations", template)
    prod = "apps/h/overlays/prod"
    keys = {"path": prod, "helm-release-key": "release"}
    queue(repo, "h", "v1.2.0", age=-60, **{**keys, "path": f"{prod}-eu"})  # behind ours
    full = {spec.name: spec.default for spec in receiver_inputs("Deploy {release}")
            if spec.name not in NOT_CARRIED}  # the carrier's own request, as it queues it
    copy = queue(repo, "h", "v1.1.0", age=-61,
                 **{**full, "write-mode": "push", **inputs("h", "v1.1.0", **keys)})
    carrier = Step("image-update", inputs("h", "v1.1.0", **keys), clone(repo, tmp_path / "carrier"))
    assert carrier.finish() == 0, carrier.stdout
    assert carrier.outputs["changed"] == "true", carrier.stdout
    assert "Downgrade allowed" not in carrier.stdout and "rolling" not in carrier.stdout, \
        carrier.stdout
    assert 'tag: "v1.2.0"' not in carrier.stdout, carrier.stdout
    assert deploys_on_origin(repo) == ["Deploy h@v1.2.0", "Deploy h@v1.1.0"]
    result = repo.origin_git("show", f"{RESULT}{copy}:{copy}.json")
    assert '"reason": "downgrade"' in result, result
    assert pending(repo) == []
