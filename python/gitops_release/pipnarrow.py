"""Run pip on a hash-locked requirements file, showing it only the files the lock pins.

pip reads a project's whole index page and evaluates every file on it, even for a ``==`` pin
with ``--require-hashes``: pydantic-core's page lists ~15,000 files, cryptography's ~3,700, and
evaluating them is most of a pip install of a lock (seconds; 0.1 to 0.3 ms a file, by pip
version). This script, run by ``bootstrap.py`` with the new venv's interpreter and the base
interpreter's pip (as ``pip --python`` re-runs itself), first reads the pages of the indexes
pip is configured with (pip's own option parsing and HTTP session: its config files, ``PIP_*``
variables, certificates, proxies and credentials apply), keeps the files whose sha256 the lock
lists, writes them to a local simple index (one page per project, with the files' own URLs) and
runs ``pip install --index-url <that index>`` on the same lock. pip still picks the file for
this interpreter, downloads it and checks its hash: the narrowed index only saves pip from
evaluating the files it would reject anyway. When a page cannot be read or a pin has no file
on it, pip runs on its configured indexes as before.

    VENV_PYTHON -I pipnarrow.py PIP_SOURCES_ROOT LOCK -- PIP_ARGS...
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
          "text/html; q=0.01")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_hashes(lock_text: str) -> dict[str, set[str]]:
    """Project (normalized) → the sha256 of every file the lock allows for it."""
    found: dict[str, set[str]] = {}
    entries = re.split(r"\n(?=\S)", lock_text)
    for entry in entries:
        m = PIN.match(entry)
        if m:
            found.setdefault(normalize(m.group("name")), set()).update(HASH.findall(entry))
    return found


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def page_files(url: str, content_type: str, body: bytes,
               wanted: set[str]) -> Iterable[tuple[str, str]]:
    """(absolute file URL, sha256) of each file on a simple-index page (PEP 691 JSON or PEP 503
    HTML) whose sha256 is in ``wanted``."""
    if "json" in content_type:
        for item in json.loads(body).get("files", []):
            digest = (item.get("hashes") or {}).get("sha256")
            if digest in wanted:
                yield urllib.parse.urljoin(url, item["url"]).split("#")[0], digest
        return
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    for href in parser.hrefs:
        target, _, fragment = urllib.parse.urljoin(url, href).partition("#")
        name, _, value = fragment.partition("=")
        if name == "sha256" and value in wanted:
            yield target, value


def _fetch(session: Any, url: str) -> tuple[str, str, bytes] | None:
    """(url, content type, body) of an index page; None when the project is not on it."""
    if url.startswith("file:"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            return None
        return path.as_uri(), "text/html", path.read_bytes()
    response = session.get(url, headers={"Accept": ACCEPT}, timeout=30)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.url, response.headers.get("Content-Type", ""), response.content


def narrowed_index(session: Any, indexes: list[str], wanted: dict[str, set[str]],
                   folder: Path) -> bool:
    """Write under ``folder`` a simple index (``<project>/index.html``) listing only the locked
    files found on ``indexes``; False when some pin has no file there (pip then reads the
    configured indexes itself)."""
    jobs = [(name, index.rstrip("/") + f"/{name}/") for name in wanted for index in indexes]
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(lambda job: _fetch(session, job[1]), jobs))
    links: dict[str, dict[str, str]] = {name: {} for name in wanted}
    for (name, _), page in zip(jobs, pages, strict=True):
        if page is not None:
            for url, digest in page_files(*page, wanted[name]):
                links[name].setdefault(digest, url)
    if not all(links.values()):
        return False
    for name, found in links.items():
        rows = [f'<a href="{html.escape(url)}#sha256={digest}">'
                f"{html.escape(urllib.parse.unquote(url.rsplit('/', 1)[-1]))}</a>"
                for digest, url in sorted(found.items())]
        (folder / name).mkdir(parents=True)
        (folder / name / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(rows) + "\n</body></html>\n",
            encoding="utf-8")
    return True


def _import_pip_from(root: str) -> None:
    """Make ``import pip`` load the base interpreter's pip only (as pip's __pip-runner__.py
    does), not the rest of its site-packages."""

    class Finder:
        @classmethod
        def find_spec(cls, fullname: str, path: Any = None,
                      target: ModuleType | None = None) -> ModuleSpec | None:
            if fullname != "pip":
                return None
            return PathFinder.find_spec(fullname, [root], target)

    sys.meta_path.insert(0, Finder)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    root, lock, pip_args = argv[0], Path(argv[1]), argv[3:]
    _import_pip_from(root)
    from pip._internal.cli.main import main as pip_main  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory(prefix="gitops-release-pip-") as tmp:
        args = pip_args
        try:
            from pip._internal.commands import create_command  # type: ignore[import-not-found]

            command = create_command("install")
            options, _ = command.parse_args(list(pip_args))
            if not options.no_index:
                session = command._build_session(options)
                indexes = [options.index_url, *options.extra_index_urls]
                simple = Path(tmp) / "simple"
                if narrowed_index(session, indexes, locked_hashes(lock.read_text("utf-8")), simple):
                    # The narrowed index replaces the configured ones: the variable overrides
                    # the extra indexes of pip's config files (pip ignores an empty one).
                    os.environ["PIP_EXTRA_INDEX_URL"] = simple.as_uri()
                    args = [pip_args[0], "--index-url", simple.as_uri(), *pip_args[1:]]
        except Exception as exc:  # any failure: plain pip, which reports its own errors
            print(f"pipnarrow: reading the index pages failed ({type(exc).__name__}: {exc}); "
                  "pip reads them itself", file=sys.stderr)
        result: int = pip_main(args)
        return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
