"""Give a composite action its Python dependencies: one venv per job, per extra.

Run by ``scripts/action-run`` with the runner's own ``python3`` (standard library only) when no
ready venv exists. The venv lives under ``$RUNNER_TEMP`` (every step of a job sees the same one),
named by the bundle's version, the extra and a hash of ``pyproject.toml``, so a later step of the
same job reuses it and a different bundle version never does. It holds only the extra's
dependencies; the package itself runs from the bundle's checkout (``PYTHONPATH``), so nothing is
built. Two steps racing to create it serialize on a lock file; the second reuses the first's.

    python3 bootstrap.py BUNDLE_ROOT EXTRA VENV
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import venv
from pathlib import Path

READY = ".gitops-release-ready"

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
    flags = ["install", "-qq", "--disable-pip-version-check"]
    base = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                          text=True, check=False)
    version = base.stdout.split()[1] if base.returncode == 0 else "0"
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts >= (22, 3):
        venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
        return [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), *flags]
    venv.EnvBuilder(with_pip=True, symlinks=True).create(target)
    return [str(target / "bin" / "python"), "-m", "pip", *flags]


def create(root: Path, extra: str, target: Path) -> None:
    """Create the venv in place under an exclusive lock (scripts in a venv hold its absolute
    path, so it cannot be built elsewhere and moved). A half-built venv, left by a killed step,
    has no ready marker and is built again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / READY).is_file():
            return  # another step built it while this one waited
        shutil.rmtree(target, ignore_errors=True)
        pip = _pip_for(target)
        if tomllib is None:
            args = [*pip, f"{root}[{extra}]"]
        else:
            args = [*pip, *requirements(root / "pyproject.toml", extra)]
        subprocess.run(args, check=True)
        (target / READY).write_text(extra + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, extra, target = Path(argv[0]), argv[1], Path(argv[2])
    if (target / READY).is_file():
        return 0
    create(root, extra, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
