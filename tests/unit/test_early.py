"""The "before" render started on the checkout as a receiver process begins (early.py): used only
as the render of the tree discovery finds when none of its files changed since it started;
otherwise, or when it fails, the overlay renders again from its scratch copy."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_release import early, pullrequest, render
from gitops_release.discovery import discover
from gitops_release.receiverspec import receiver_inputs
from tests.harness.gitrepo import GitRepo, make_repo
from tests.unit.test_render import FILES  # the web app: a base and a dev overlay's patch

needs_kustomize = pytest.mark.skipif(shutil.which("kustomize") is None, reason="needs kustomize")

OVERLAY = "apps/web/overlays/dev"
ARGV = ["image-update", "--image", "registry.example.com/acme/web:v1.2.0",
        "--release", "web@v1.2.0", "--path", OVERLAY]


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts as a new process would: nothing tried, nothing started, the signal
    handlers as they were, and a core idle (test_a_busy_machine_starts_nothing says otherwise)."""
    idle = tmp_path / "loadavg-idle"
    idle.write_text("0.10 0.20 0.30 1/400 123\n")
    monkeypatch.setattr(early, "LOADAVG", str(idle))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    early.stop()
    early._TRIED.clear()
    yield
    early.stop()
    early._TRIED.clear()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def _calls(log: Path) -> list[str]:
    """The folder each kustomize call (``counted``) rendered."""
    return [line.split()[-1] for line in log.read_text().splitlines()] if log.exists() else []


def _repo(tmp_path: Path) -> GitRepo:
    template = tmp_path / "template"
    for rel, text in FILES.items():
        (template / rel).parent.mkdir(parents=True, exist_ok=True)
        (template / rel).write_text(text)
    repo = make_repo(tmp_path / "repos", "acme", "config", template)
    time.sleep(2 * early.CLOCK_MARGIN_NS / 1e9)  # a checkout made a moment before the job
    return repo


def _images(out: list[dict[str, object]]) -> list[str]:
    spec = out[0]["spec"]
    assert isinstance(spec, dict)
    return [c["image"] for c in spec["template"]["spec"]["containers"]]


def test_the_overlay_inputs_are_read_as_the_cli_reads_them() -> None:
    env = {"GITOPS_RELEASE_PATH": "apps/env/overlays/dev", "GITOPS_RELEASE_CONFIG_ROOT": "apps"}
    assert early.overlay_inputs(["image-update"], env) == {
        "path": "apps/env/overlays/dev", "config-root": "apps", "write-mode": "push"}
    assert early.overlay_inputs(
        ["cronjob-update", "--path", "a/b", "--config-root=c", "--path=d/e"], env) == {
        "path": "d/e", "config-root": "c", "write-mode": "push"}  # the last flag wins
    assert early.overlay_inputs(["image-update", "--path", ""], env)["path"] == \
        "apps/env/overlays/dev"  # an empty flag counts as unset
    assert early.overlay_inputs(["dispatch", "--path", "a"], env) is None
    assert early.overlay_inputs([], env) is None


def test_the_defaults_are_the_receiver_inputs_defaults() -> None:
    specs = {s.name: s.default for s in (*receiver_inputs("x"), pullrequest.WRITE_MODE)}
    assert {name: specs[name] for name in early.DEFAULTS} == early.DEFAULTS


@needs_kustomize
def test_a_render_started_on_the_checkout_is_the_before_render(
        tmp_path: Path, counted: Path) -> None:
    repo = _repo(tmp_path)
    early.start(ARGV, {}, str(repo.work))
    assert len(early.STARTED) == 1
    tree = discover(repo.work, OVERLAY)
    render.prerender(tree)  # takes the render started on the checkout
    assert not early.STARTED
    with render.Scratch(discover(repo.work, OVERLAY)) as scratch:
        out = scratch.render({})
    assert _images(out) == ["registry.example.com/acme/web:v1.1.0"]
    assert _calls(counted) == [str(repo.work / OVERLAY)]  # one render, on the checkout
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""


@needs_kustomize
def test_a_file_changed_after_the_start_renders_again(tmp_path: Path, counted: Path) -> None:
    repo = _repo(tmp_path)
    early.start(ARGV, {}, str(repo.work))
    patch = repo.work / OVERLAY / "deployment.yaml"
    patch.write_text(FILES[f"{OVERLAY}/deployment.yaml"].replace("v1.1.0", "v1.5.0"))
    render.prerender(discover(repo.work, OVERLAY))
    with render.Scratch(discover(repo.work, OVERLAY)) as scratch:
        out = scratch.render({})
    assert _images(out) == ["registry.example.com/acme/web:v1.5.0"]
    calls = _calls(counted)
    assert len(calls) == 2 and calls[0] == str(repo.work / OVERLAY), calls
    assert "gitops-release-render-" in calls[1]  # its scratch copy


@needs_kustomize
def test_a_failed_render_on_the_checkout_renders_again(tmp_path: Path) -> None:
    """Only a render that succeeded stands in: a failure is reported from the scratch copy's
    own render (its message, the load restrictor retry)."""
    repo = _repo(tmp_path)
    tree = discover(repo.work, OVERLAY)
    command = early.kustomize_command()
    assert command is not None
    failing = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(1)"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    early.STARTED.append(early.Early(str(repo.work), OVERLAY, command, failing, time.time_ns()))
    render.prerender(tree)
    with render.Scratch(discover(repo.work, OVERLAY)) as scratch:
        assert _images(scratch.render({})) == ["registry.example.com/acme/web:v1.1.0"]


def test_only_a_receiver_push_deploy_of_a_kustomize_overlay_starts_one(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo.work / "plain").mkdir()
    for argv in (["dispatch", "--path", OVERLAY], [*ARGV, "--write-mode", "pull-request"],
                 ["image-update", "--path", "../outside"], ["image-update", "--path", "plain"],
                 ["image-update", "--path", "apps/missing"]):
        early._TRIED.clear()
        early.start(argv, {}, str(repo.work))
        assert not early.STARTED, argv


@needs_kustomize
def test_a_render_nothing_took_is_stopped(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    early.start(ARGV, {}, str(repo.work))
    early.start(ARGV, {}, str(repo.work))  # once per process
    assert len(early.STARTED) == 1
    proc = early.STARTED[0].proc
    early.stop()
    assert proc.poll() is not None and not early.STARTED


@needs_kustomize
def test_python_m_starts_the_render_before_the_receiver_loads(
        tmp_path: Path, counted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole command (``python -m gitops_release``, run here in this process so that the
    machine's load cannot decide for it): the first render runs on the checkout, the second
    (the planned edit) in a scratch copy, and nothing else."""
    import runpy

    repo = _repo(tmp_path)
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setattr(sys, "argv", ["gitops_release", *ARGV, "--push", "false"])
    monkeypatch.chdir(repo.work)
    with pytest.raises(SystemExit) as ended:
        runpy.run_module("gitops_release", run_name="__main__", alter_sys=True)
    assert ended.value.code == 0
    calls = _calls(counted)
    assert calls[0] == str(repo.work / OVERLAY) and len(calls) == 2, calls
    assert "gitops-release-render-" in calls[1]
    assert "image: registry.example.com/acme/web:v1.2.0" in \
        (repo.work / OVERLAY / "deployment.yaml").read_text()


def _slow_kustomize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kustomize on PATH that logs its pid, then sleeps (the same process: exec)."""
    folder = tmp_path / "slow-bin"
    folder.mkdir()
    log = tmp_path / "pids.log"
    (folder / "kustomize").write_text(f'#!/bin/sh\necho $$ >> {log}\nexec sleep 30\n')
    (folder / "kustomize").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def _gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie of this test process counts as ended
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_sigterm_before_the_deploy_handles_signals_stops_the_render(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM's default ends the process without atexit: until the deploy's own handlers are
    in place, the render started on the checkout is stopped first."""
    repo = _repo(tmp_path)
    log = _slow_kustomize(tmp_path, monkeypatch)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "python")}
    script = ("import sys, time\nfrom gitops_release import early\n"
              f"early.LOADAVG = {early.LOADAVG!r}  # a core idle, whatever the machine's load\n"
              "early.start(sys.argv[1:])\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, *ARGV], cwd=repo.work, env=env)
    deadline = time.monotonic() + 10
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = int(log.read_text().split()[0])
    proc.terminate()
    assert proc.wait(10) == -15  # ended by the signal, as without the handler
    assert _gone(pid), "the render outlived the process"


def test_stopping_the_renders_reaches_one_a_thread_waits_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan made in the background waits for the "before" render: stopping the renders
    (the deploy ending, a signal) stops that one too, and the waiting plan gets an error."""
    import threading

    repo = _repo(tmp_path)
    log = _slow_kustomize(tmp_path, monkeypatch)
    tree = discover(repo.work, OVERLAY)
    render.prerender(tree)
    scratch = render.Scratch(tree)
    failures: list[BaseException] = []

    def wait() -> None:
        try:
            scratch.render({})
        except render.RenderError as exc:
            failures.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    deadline = time.monotonic() + 10
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the thread is waiting for it
    render.RENDERS.close()
    thread.join(10)
    scratch.close()
    assert not thread.is_alive() and failures, failures
    assert all(_gone(int(pid)) for pid in log.read_text().split())
    assert "stopped" in str(failures[0])


def test_a_busy_machine_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More runnable tasks than cores (a wave of receivers on one machine): the render would
    only compete, so none starts here and the deploy renders later, as before."""
    repo = _repo(tmp_path)
    loadavg = tmp_path / "loadavg"
    monkeypatch.setattr(early, "LOADAVG", str(loadavg))
    loadavg.write_text(f"9.00 5.00 2.00 {(os.cpu_count() or 1) + 1}/400 123\n")
    early.start(ARGV, {}, str(repo.work))
    assert not early.STARTED
    early._TRIED.clear()
    loadavg.write_text("0.10 0.20 0.30 1/400 123\n")
    early.start(ARGV, {}, str(repo.work))
    assert len(early.STARTED) == (1 if shutil.which("kustomize") else 0)
