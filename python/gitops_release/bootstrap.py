"""Give a composite action its Python dependencies: one venv per job, per extra.

Run by ``scripts/action-run`` with the runner's own ``python3`` (standard library only) when no
ready venv exists. The venv lives under ``$RUNNER_TEMP`` (every step of a job sees the same one),
named by the bundle's version, the extra and a hash of the extra's lock file, so a later step of
the same job reuses it and a different lock never does. It holds only the extra's dependencies;
the package itself runs from the bundle's checkout (``PYTHONPATH``), so nothing is built. Two
steps racing to create it serialize on a lock file; the second reuses the first's.

With ``--locked`` (every action) the dependencies come from ``requirements/<extra>.txt``, pinned
with hashes by ``scripts/lock``, installed with ``--require-hashes --no-deps --only-binary``: by
uv when ``uv`` is on ``PATH`` (sub-second from its cache), else by the base interpreter's pip.
``GITOPS_RELEASE_INSTALLER=pip|uv`` forces one. Without ``--locked`` (the development venv) the
version ranges of ``pyproject.toml`` are installed.

    python3 bootstrap.py [--locked] BUNDLE_ROOT EXTRA VENV
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Mapping
from pathlib import Path

READY = ".gitops-release-ready"
PIP_FLAGS = ["install", "-qq", "--disable-pip-version-check"]
# pips sharing a locked install (each pays its own start, ~0.5 s of CPU): one per core, up to 2
PIP_PROCESSES = min(2, os.cpu_count() or 1)
# The extras an action installs; each has a hash-locked requirements/<extra>.txt.
LOCKED_EXTRAS = ("image-update", "cronjob-update", "build-push", "dispatch")

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: no tomllib; fall back to installing the package
    tomllib = None  # type: ignore[assignment]


def requirements(pyproject: Path, extra: str) -> list[str]:
    """The dependencies of ``extra`` (comma-separated extras allowed) and the core, following
    self-references like ``all``."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    name = project["name"]
    extras = project.get("optional-dependencies", {})
    wanted = [item.strip() for item in extra.split(",") if item.strip()]
    unknown = [item for item in wanted if item not in extras]
    if unknown:
        raise SystemExit(f"bootstrap: unknown extra {unknown[0]!r}; known: "
                         f"{', '.join(sorted(extras))}")
    seen: set[str] = set()
    result: list[str] = list(project.get("dependencies", []))

    def add(which: str) -> None:
        if which in seen:
            return
        seen.add(which)
        for req in extras[which]:
            if req.startswith(f"{name}["):
                for inner in req[len(name) + 1 : req.index("]")].split(","):
                    add(inner.strip())
            else:
                result.append(req)

    for item in wanted:
        add(item)
    return sorted(set(result))


def _pip_for(target: Path) -> list[str]:
    """A pip command installing into the venv at ``target``.

    Seeding a venv with its own pip costs seconds; the base interpreter's pip (22.3 or newer)
    can install into it with ``--python`` instead. Without a usable pip, seed one.
    """
    flags = PIP_FLAGS
    base = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                          text=True, check=False)
    version = base.stdout.split()[1] if base.returncode == 0 else "0"
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts >= (22, 3):
        venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
        return [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), *flags]
    venv.EnvBuilder(with_pip=True, symlinks=True).create(target)
    return [str(target / "bin" / "python"), "-m", "pip", *flags]


def lock_file(root: Path, extra: str) -> Path:
    """``requirements/<extra>.txt``; a clear error when the extra has none."""
    path = root / "requirements" / f"{extra}.txt"
    if extra not in LOCKED_EXTRAS or not path.is_file():
        raise SystemExit(f"bootstrap: no lock file {path} for the extra {extra!r}; locked extras: "
                         f"{', '.join(LOCKED_EXTRAS)} (run scripts/lock to make them)")
    return path


def installer(environ: Mapping[str, str]) -> str:
    """``uv`` when on PATH (or forced), else ``pip``."""
    forced = environ.get("GITOPS_RELEASE_INSTALLER", "")
    if forced not in ("", "pip", "uv"):
        raise SystemExit(f"bootstrap: GITOPS_RELEASE_INSTALLER={forced!r}: use pip or uv")
    if forced == "uv" and shutil.which("uv") is None:
        raise SystemExit("bootstrap: GITOPS_RELEASE_INSTALLER=uv but no uv on PATH")
    return forced or ("uv" if shutil.which("uv") else "pip")


def _runnable_pip_root() -> Path | None:
    """The folder holding the base interpreter's pip package, when that pip can run inside
    another environment (pip 22.3 and newer ship ``__pip-runner__.py``, what ``pip --python``
    re-runs itself with). Found without starting pip."""
    spec = importlib.util.find_spec("pip")
    if spec is None or not spec.origin:
        return None
    package = Path(spec.origin).parent
    return package.parent if (package / "__pip-runner__.py").is_file() else None


def install_locked(lock: Path, target: Path, tool: str) -> None:
    """Create the venv and install exactly the lock's files, each checked against its hash."""
    strict = ["--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(lock)]
    if tool == "uv":
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(target)],
                       check=True, env=env)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(target / "bin" / "python"),
                        *strict], check=True, env=env)
        return
    pip_root = _runnable_pip_root()
    if pip_root is None:  # an old pip: seed one into the venv
        subprocess.run([*_pip_for(target), *strict], check=True)
        return
    # The base pip runs in the new venv (as `pip --python` would, without first starting in the
    # base interpreter) and sees only the lock's files on the index (pipnarrow.py). Two pips,
    # each with half of the lock's packages, share the work (downloads, unpacking and
    # byte-compiling, which one pip does file after file); --no-deps, so neither needs the
    # other's packages. Measured: BENCHMARKS.md, section 1.
    venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
    with tempfile.TemporaryDirectory(prefix="gitops-release-lock-") as tmp:
        parts = split_lock(lock, Path(tmp), PIP_PROCESSES)
        running = [subprocess.Popen([str(target / "bin" / "python"), "-I",
                                     str(Path(__file__).with_name("pipnarrow.py")), str(pip_root),
                                     str(part), "--", *PIP_FLAGS, *strict[:-1], str(part)])
                   for part in parts]
        codes = [process.wait() for process in running]
    failed = [code for code in codes if code != 0]
    if failed:
        raise subprocess.CalledProcessError(failed[0], "pip install --require-hashes")


def split_lock(lock: Path, folder: Path, parts: int) -> list[Path]:
    """The lock's pinned entries (each with its hashes) dealt round-robin into up to ``parts``
    requirement files under ``folder``; one when the lock has few packages."""
    entries = [entry for entry in re.split(r"\n(?=\S)", lock.read_text(encoding="utf-8"))
               if entry[:1].isalnum()]
    parts = parts if len(entries) >= 2 * parts else 1
    paths = []
    for number in range(parts):
        group = entries[number::parts]
        if group:
            path = folder / f"{lock.stem}.{number}.txt"
            path.write_text("\n".join(group) + "\n", encoding="utf-8")
            paths.append(path)
    return paths


def create(root: Path, extra: str, target: Path, locked: bool = False) -> None:
    """Create the venv in place under an exclusive lock (scripts in a venv hold its absolute
    path, so it cannot be built elsewhere and moved). A half-built venv, left by a killed step,
    has no ready marker and is built again."""
    lock = lock_file(root, extra) if locked else None
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if (target / READY).is_file():
            return  # another step built it while this one waited
        shutil.rmtree(target, ignore_errors=True)
        if lock is not None:
            tool = installer(os.environ)
            print(f"installing {lock.name} with {tool} (--require-hashes)", flush=True)
            install_locked(lock, target, tool)
        else:
            pip = _pip_for(target)
            if tomllib is None:
                args = [*pip, f"{root}[{extra}]"]
            else:
                args = [*pip, *requirements(root / "pyproject.toml", extra)]
            subprocess.run(args, check=True)
        (target / READY).write_text(extra + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    locked = bool(argv) and argv[0] == "--locked"
    args = argv[1:] if locked else argv
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, extra, target = Path(args[0]), args[1], Path(args[2])
    if (target / READY).is_file():
        return 0
    create(root, extra, target, locked=locked)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
