"""The judge of a deploy: render what the config repo deploys, before and after the planned edit.

An overlay with a kustomization is rendered by the real kustomize (``kustomize build``, else
``kubectl kustomize``) in a scratch copy of exactly the files discovery found, so the "before" and
"after" renders differ only by the planned edit and nothing is written in the clone. The first
"before" render may have started on the checkout itself as the process began (early.py): it stands
for the scratch copy's only when it succeeded and none of the tree's files or folders changed since
it started. A plain folder renders as the documents of its YAML files (what an Argo CD directory app
applies).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from gitops_release import early
from gitops_release import yamledit as y
from gitops_release.discovery import Tree
from gitops_release.early import Early, kustomize_command, render_env
from gitops_release.errors import ManifestError

RENDER_TIMEOUT = 120


class RenderError(ManifestError):
    """The overlay does not render."""

    title = "Render failed"


def to_data(node: Any) -> Any:
    """A composed node as plain data: mappings, lists and scalar strings. Tags are never
    constructed (a ``!!python/...`` tag stays text), so before and after compare as written."""
    kind = node.id
    if kind == "mapping":
        return {str(k.value) if k.id == "scalar" else repr(to_data(k)):
                str(v.value) if v.id == "scalar" else to_data(v) for k, v in node.value}
    if kind == "sequence":
        return [str(item.value) if item.id == "scalar" else to_data(item) for item in node.value]
    return str(node.value)


def load_documents(text: str, shown: str) -> list[Any]:
    """The documents of a renderer's output as plain data."""
    from ruamel.yaml.error import YAMLError

    try:
        return [to_data(d) for d in y.compose_all(text) if d is not None]
    except (YAMLError, ValueError, RecursionError) as exc:
        raise RenderError(f"{shown} does not load: {str(exc).splitlines()[0]}") from None


class _Renders:
    """This process's kustomize renders by input: the exact bytes of every file of the scratch
    copy, the overlay and the command. A render is a pure function of them, so a second render of
    the same input (a carrier's retry, the proof after a prerender) reuses the first. A render
    started ahead (``prerender``) is waited for, not started twice; one started on the checkout
    as the process began (``early``) stands for it when it read the same files."""

    def __init__(self) -> None:
        self.done: dict[str, tuple[int, str, str]] = {}  # key → (returncode, stdout, stderr)
        # key → (process, its scratch copy, the check its result must pass to be used)
        self.running: dict[str, tuple[subprocess.Popen[str], Path, Callable[[], bool] | None]] = {}
        self.waiting: dict[str, subprocess.Popen[str]] = {}  # taken by a thread that waits for it
        self.stopped: list[subprocess.Popen[str]] = []  # waited-for renders close() stopped
        self.identity: str | None = None

    def start(self, key: str, args: list[str], cwd_dir: Path) -> None:
        if key in self.done or key in self.running:
            shutil.rmtree(cwd_dir, ignore_errors=True)
            return
        try:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=render_env())
        except OSError:
            shutil.rmtree(cwd_dir, ignore_errors=True)
            return
        self.running[key] = (proc, cwd_dir, None)

    def adopt(self, key: str, started: Early, cwd_dir: Path, check: Callable[[], bool]) -> bool:
        """Take the render ``started`` on the checkout as the render of ``key``, used only if
        it succeeds and ``check()`` then holds (else this input renders again)."""
        if key in self.done or key in self.running:
            return False
        self.running[key] = (started.proc, cwd_dir, check)
        return True

    def result(self, key: str, args: list[str]) -> tuple[int, str, str]:
        if key in self.running:
            proc, folder, check = self.running.pop(key)
            self.waiting[key] = proc  # close() still reaches it
            try:
                out, err = proc.communicate(timeout=RENDER_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
            finally:
                self.waiting.pop(key, None)
                shutil.rmtree(folder, ignore_errors=True)
            if any(proc is stopped for stopped in self.stopped):
                self.stopped = [p for p in self.stopped if p is not proc]
                raise RenderError(f"the render was stopped (the deploy is ending): {args[-1]}")
            if check is None or (proc.returncode == 0 and check()):
                self.done[key] = (proc.returncode, out, err)
        if key not in self.done:
            result = subprocess.run(args, capture_output=True, text=True, timeout=RENDER_TIMEOUT,
                                    check=False, env=render_env())
            self.done[key] = (result.returncode, result.stdout, result.stderr)
        return self.done[key]

    def running_still(self, key: str) -> bool:
        return key in self.running and self.running[key][0].poll() is None

    def close(self) -> None:
        """Stop every render: those nothing waits for yet, and those a thread waits for (the
        plan made in the background; it collects them and gets a RenderError)."""
        for proc, folder, _check in self.running.values():
            proc.kill()
            proc.communicate()
            shutil.rmtree(folder, ignore_errors=True)
        self.running.clear()
        for proc in list(self.waiting.values()):
            self.stopped.append(proc)  # the object, not its pid: pids are reused
            proc.kill()
        early.stop()


RENDERS = _Renders()
atexit.register(RENDERS.close)
early.STOPPERS.append(RENDERS.close)

_PROVING = threading.local()  # this thread's while_proving hook


@contextmanager
def while_proving(hook: Callable[[Tree, Mapping[str, str]], None]) -> Iterator[None]:
    """Inside the block, when this thread renders a planned edit whose render is still running,
    ``hook(tree, texts)`` runs first (the deploy gets its commit ready while it waits); a
    failure of the hook is ignored."""
    _PROVING.hook = hook
    try:
        yield
    finally:
        _PROVING.hook = None


_SCRATCH_DIRS: set[str] = set()  # every scratch copy's folder: named in no message (a render
# made in one, e.g. ahead of planning, may be reused by another)


class Scratch:
    """A scratch copy of a tree's files, where variants of the planned texts are rendered."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.dir = Path(tempfile.mkdtemp(prefix="gitops-release-render-"))
        _SCRATCH_DIRS.add(str(self.dir))
        self.written: dict[str, str] = {}
        self.other: dict[str, bytes] = {}
        for rel in sorted(set(tree.files) | tree.other_files):
            target = self.dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel in tree.files:
                target.write_text(tree.files[rel].text, encoding="utf-8", newline="")
            else:
                self.other[rel] = (tree.root / rel).read_bytes()  # read once: copied and keyed
                target.write_bytes(self.other[rel])
        for folder in tree.folders:
            (self.dir / folder).mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, texts: Mapping[str, str], planned: bool = False) -> list[Any]:
        """Render the overlay with ``texts`` (rel → new text) in place of the files' own;
        ``planned``: the edit the deploy means to write (see ``while_proving``)."""
        self._write(texts)
        return self._kustomize(texts if planned else None)

    def start(self, texts: Mapping[str, str]) -> None:
        """Start rendering the overlay with ``texts`` in the background and hand this copy to
        the render, which removes it (``RENDERS``); a planner asking for the same input later
        waits for it. A no-op, the copy removed, without kustomize."""
        command = self.command()
        if command is None:
            self.close()
            return
        self._write(texts)
        key = self.key(command)
        started = None if texts or self.tree.helm_charts else \
            early.take(str(self.tree.root), self.tree.overlay, command)
        if started is not None:
            tree = self.tree
            files = sorted(set(tree.files) | tree.other_files)
            folders = sorted(set(tree.folders) | {str(PurePosixPath(f).parent) for f in files})
            if RENDERS.adopt(key, started, self.dir, lambda: started.unchanged(files, folders)):
                return
            started.proc.kill()
            started.proc.communicate()
        RENDERS.start(key, self.args(command), self.dir)

    def _write(self, texts: Mapping[str, str]) -> None:
        for rel in set(self.written) | set(texts):
            if rel not in self.tree.files:  # a file read only by kustomize (a generator's)
                if rel in texts and self.written.get(rel) != texts[rel]:
                    (self.dir / rel).write_text(texts[rel], encoding="utf-8", newline="")
                    self.written[rel] = texts[rel]
                elif rel not in texts and rel in self.other:
                    (self.dir / rel).write_bytes(self.other[rel])
                    del self.written[rel]
                continue
            text = texts.get(rel, self.tree.files[rel].text)
            if self.written.get(rel, self.tree.files[rel].text) != text:
                (self.dir / rel).write_text(text, encoding="utf-8", newline="")
            self.written[rel] = text

    def key(self, command: list[str]) -> str:
        """The render's input: the command, the overlay and every file's bytes."""
        digest = hashlib.sha256("\0".join([*command, shutil.which(command[0]) or "",
                                            self.tree.overlay, str(self.tree.helm_charts)]
                                           ).encode())
        for rel in sorted(set(self.tree.files) | set(self.other)):
            data = self.written[rel].encode("utf-8") if rel in self.written else \
                self.other[rel] if rel in self.other else self.tree.files[rel].text.encode("utf-8")
            digest.update(f"\0{rel}\0{len(data)}\0".encode())
            digest.update(data)
        for folder in sorted(self.tree.folders):
            digest.update(f"\0dir\0{folder}".encode())
        return digest.hexdigest()

    def args(self, command: list[str]) -> list[str]:
        return [*command, str(self.dir / self.tree.overlay)] + \
            (["--enable-helm"] if self.tree.helm_charts else [])

    def command(self) -> list[str] | None:
        """The renderer, with the load restrictor off once the overlay needed it."""
        command = kustomize_command()
        if command is not None and self.tree.unrestricted:
            command = [*command, *UNRESTRICTED]
        return command

    def _kustomize(self, planned: Mapping[str, str] | None = None) -> list[Any]:
        command = self.command()
        if command is None:
            raise RenderError("neither kustomize nor kubectl is on PATH, so the overlay cannot "
                              "be rendered", hint="Install kustomize (GitHub's Ubuntu runners "
                              "have it)")
        key = self.key(command)
        hook = getattr(_PROVING, "hook", None)
        if planned and hook is not None and RENDERS.running_still(key):
            with contextlib.suppress(Exception):  # only ahead of time: the deploy does it again
                hook(self.tree, planned)
        try:
            code, out, err = RENDERS.result(key, self.args(command))
        except subprocess.TimeoutExpired:
            raise RenderError(f"rendering {self.tree.overlay} took longer than "
                              f"{RENDER_TIMEOUT} s") from None
        if code != 0 and not self.tree.unrestricted and \
                all(part in err for part in RESTRICTED):
            # A file outside the kustomization's folder (a generator's env file in a shared
            # folder): Flux's kustomize-controller builds without the load restrictor, and so
            # may Argo CD (kustomize.buildOptions). Render as they do, and say so in the proof.
            self.tree.unrestricted = True
            return self._kustomize(planned)
        if code != 0:
            message = _without_warnings(err.strip())
            for scratch_dir in _SCRATCH_DIRS:
                message = message.replace(scratch_dir + "/", "")
            remote = REMOTE_RESOURCE.search(message)
            if remote is not None and UNREACHABLE.search(message):
                raise RenderError(
                    f"{self.tree.overlay} does not render: kustomize could not fetch the remote "
                    f"resource {remote.group(1)} (the network or the remote failed, not the "
                    f"overlay): {message[-1000:]}",
                    hint="Run the job again once the remote answers; to render without the "
                    "network, vendor that base into the config repo and list its folder instead")
            raise RenderError(f"{self.tree.overlay} does not render with {' '.join(command)}: "
                              f"{message[-1500:]}", hint="Fix the overlay so that it renders")
        return load_documents(out, f"the render of {self.tree.overlay}")


def _without_warnings(err: str) -> str:
    """kustomize's stderr without its deprecation warnings (``# Warning: 'bases' is
    deprecated...``, printed before the error, were given as the reason), unless nothing else is
    there."""
    lines = [line for line in err.splitlines()
             if not line.lstrip("# ").lower().startswith("warning:")]
    return "\n".join(lines).strip() or err


# kustomize fetching a remote base (a git URL or an http(s) file) and the network failing
REMOTE_RESOURCE = re.compile(r"accumulating resources from '((?:https?|ssh|git)://[^']+|"
                             r"(?:github\.com|gitlab\.com|bitbucket\.org)/[^']+|git@[^']+)'")
UNREACHABLE = re.compile(r"connection refused|could not resolve host|no such host|"
                         r"i/o timeout|network is unreachable|connection timed out|"
                         r"TLS handshake timeout|unable to access|Could not read from remote",
                         re.IGNORECASE)
UNRESTRICTED = ("--load-restrictor", "LoadRestrictionsNone")
RESTRICTED = ("security; file", "is not in or below")  # the load restrictor refusing a file

SHARE_LIMIT = 2 * 1024 * 1024  # bytes of renders a queued deploy hands to its carrier


def _identity() -> str:
    """The renderer, as precisely as renders may be shared: its path and its version."""
    if RENDERS.identity is None:
        command = kustomize_command()
        RENDERS.identity = ""
        if command is not None:
            version = [command[0], "version"] + (["--client"] if command[0] == "kubectl" else [])
            try:
                out = subprocess.run(version, capture_output=True, text=True, timeout=10,
                                     check=False, env=render_env())
            except (OSError, subprocess.TimeoutExpired):
                return ""
            if out.returncode == 0 and out.stdout.strip():
                RENDERS.identity = "\0".join([*command, shutil.which(command[0]) or "",
                                               out.stdout.strip()])
    return RENDERS.identity


def export_renders() -> str:
    """This process's successful renders, for a carrier that re-plans the same deploy on the
    same files: JSON, at most SHARE_LIMIT bytes of output; '' when there is none to share."""
    chosen: dict[str, str] = {}
    size = 0
    for key, (code, out, _) in RENDERS.done.items():
        if code == 0 and size + len(out) <= SHARE_LIMIT:
            chosen[key] = out
            size += len(out)
    identity = _identity() if chosen else ""
    return json.dumps({"renderer": identity, "renders": chosen}) if identity else ""


def import_renders(text: str) -> int:
    """Take another deploy's renders (``export_renders``) made by the same renderer; each is
    used only for a render of exactly the same input. Returns how many were taken."""
    try:
        data = json.loads(text)
    except ValueError:
        return 0
    if not isinstance(data, dict) or not isinstance(data.get("renders"), dict) or \
            not data.get("renderer") or data.get("renderer") != _identity():
        return 0
    taken = 0
    for key, out in data["renders"].items():
        if isinstance(key, str) and len(key) == 64 and isinstance(out, str) and \
                key not in RENDERS.done:
            RENDERS.done[key] = (0, out, "")
            taken += 1
    return taken


def prerender(tree: Tree, texts: Mapping[str, str] | None = None) -> None:
    """Start rendering ``tree`` as it is (or with ``texts`` in place of its files' own), in the
    background, so that the render is ready (or under way) when planning asks for it; a no-op
    without kustomize."""
    if tree.kustomization is not None and kustomize_command() is not None:
        Scratch(tree).start(texts or {})


def render_plain(tree: Tree, texts: Mapping[str, str]) -> list[Any]:
    """A plain folder: the documents of its files."""
    out: list[Any] = []
    for rel in sorted(tree.files):
        if rel in texts and texts[rel] != tree.files[rel].text:
            out += [to_data(d) for d in y.parse(texts[rel], rel).docs]
        else:
            if rel not in tree.data:
                tree.data[rel] = [to_data(d) for d in tree.files[rel].parsed.docs]
            out += tree.data[rel]
    return out
