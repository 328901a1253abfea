"""pip on a narrowed index (python/gitops_release/pipnarrow.py): pip sees only the files the lock
pins, still picks, downloads and hash-checks them itself, and reads its configured indexes
unchanged when a pin has no file there."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gitops_release import pipnarrow
from tests.harness.services import REPO_ROOT

SCRIPT = REPO_ROOT / "python" / "gitops_release" / "pipnarrow.py"


def _wheel(folder: Path, name: str, version: str, body: str) -> Path:
    """A minimal pure-Python wheel of module ``name`` (a valid RECORD: pip checks it)."""
    dist = f"{name}-{version}"
    files = {f"{name}/__init__.py": body.encode(),
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: "
                                            f"{version}\n".encode(),
             f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                        b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}\n" for path, data in files.items()) + f"{dist}.dist-info/RECORD,,\n"
    files[f"{dist}.dist-info/RECORD"] = record.encode()
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def index(tmp_path: Path) -> tuple[Path, str]:
    """A file:// simple index whose page for demo_pkg lists 300 releases; returns the index and
    the sha256 of demo_pkg 1.0."""
    files = tmp_path / "files"
    files.mkdir()
    links = []
    for minor in range(300):
        wheel = _wheel(files, "demo_pkg", f"1.{minor}", f"VERSION = '1.{minor}'\n")
        links.append(f'<a href="../../files/{wheel.name}#sha256={_sha256(wheel)}">{wheel.name}</a>')
    page = tmp_path / "simple" / "demo-pkg"
    page.mkdir(parents=True)
    (page / "index.html").write_text("<html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    return tmp_path / "simple", _sha256(files / "demo_pkg-1.0-py3-none-any.whl")


def _base_python_pip() -> tuple[str, str]:
    """The runner's ``python3`` and its pip's sources root (the test venv may have no pip)."""
    base = shutil.which("python3", path=os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)))
    if base is None:
        pytest.skip("no python3 outside the test venv")
    found = subprocess.run(
        [base, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from gitops_release.bootstrap import _runnable_pip_root as r; print(r() or '')",
         str(REPO_ROOT / "python")], capture_output=True, text=True, check=True).stdout.strip()
    if not found:
        pytest.skip("python3's pip is older than 22.3")
    return base, found


def _run(index: Path, lock: Path, target: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    base, root = _base_python_pip()
    subprocess.run([base, "-m", "venv", "--without-pip", str(target)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": index.as_uri(),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"})
    return subprocess.run(
        [str(target / "bin" / "python"), "-I", str(SCRIPT), str(root), str(lock), "--", "install",
         *flags, "--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(lock)],
        env=env, capture_output=True, text=True, check=False, timeout=300)


def test_the_lock_is_read_per_project_with_every_hash() -> None:
    hashes = pipnarrow.locked_hashes((REPO_ROOT / "requirements" / "dispatch.txt").read_text())
    assert "pygithub" in hashes and "typing-extensions" in hashes
    assert all(len(digest) == 64 for found in hashes.values() for digest in found)
    assert len(hashes["cffi"]) > 10  # one per file of the pinned version, every platform


def test_pages_keep_only_the_wanted_hashes() -> None:
    wanted = {"a" * 64}
    body = json.dumps({"files": [
        {"url": "../../f/x-1-py3-none-any.whl", "hashes": {"sha256": "a" * 64}},
        {"url": "../../f/x-2-py3-none-any.whl", "hashes": {"sha256": "b" * 64}},
        {"url": "../../f/x-3-py3-none-any.whl", "hashes": {}}]}).encode()
    found = list(pipnarrow.page_files("https://index.test/simple/x/",
                                      "application/vnd.pypi.simple.v1+json", body, wanted))
    assert found == [("https://index.test/f/x-1-py3-none-any.whl", "a" * 64)]
    html = (f'<a href="../../f/x-1-py3-none-any.whl#sha256={"a" * 64}">x</a>'
            f'<a href="../../f/x-2-py3-none-any.whl#sha256={"b" * 64}">x</a>').encode()
    assert list(pipnarrow.page_files("https://index.test/simple/x/", "text/html", html,
                                     wanted)) == found


def test_pip_installs_the_locked_file_from_the_narrowed_index(
        tmp_path: Path, index: tuple[Path, str]) -> None:
    simple, digest = index
    lock = tmp_path / "lock.txt"
    lock.write_text(f"demo-pkg==1.0 \\\n    --hash=sha256:{digest}\n")
    result = _run(simple, lock, tmp_path / "venv", "-v")
    assert result.returncode == 0, result.stderr
    # pip looked only in the narrowed index (the configured one is replaced), with one link
    assert "Looking in indexes: file://" in result.stdout
    assert simple.as_uri() not in result.stdout
    assert "gitops-release-pip-" in result.stdout
    imported = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c",
                               "import demo_pkg; print(demo_pkg.VERSION)"],
                              capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "1.0"


def test_a_pin_without_a_file_on_the_index_leaves_pip_to_its_indexes(
        tmp_path: Path, index: tuple[Path, str]) -> None:
    simple, _ = index
    lock = tmp_path / "lock.txt"
    lock.write_text(f"demo-pkg==1.0 \\\n    --hash=sha256:{'0' * 64}\n")
    result = _run(simple, lock, tmp_path / "venv", "-v")
    assert result.returncode != 0
    assert f"Looking in indexes: {simple.as_uri()}" in result.stdout  # not narrowed
    assert "hash" in (result.stdout + result.stderr).lower()
