"""Pin (or unpin) the bundle's own references inside its reusable workflows.

A caller that pins `release.yml@<sha>` still runs whatever `actions/*@v1` points to, unless the
released commit's workflows name the actions by that release's exact tag. The release PR runs
this to rewrite every `gitops-release/gitops-release/...@<ref>` in `.github/workflows/` (except
this repo's own CI and release automation) to `@vX.Y.Z`; `--check` verifies it.

    python scripts/pin_refs.py 1.2.3          # rewrite to @v1.2.3
    python scripts/pin_refs.py --check 1.2.3  # exit 1 when a reference is not @v1.2.3
    python scripts/pin_refs.py --major 1      # back to the moving tag @v1
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "gitops-release/gitops-release"
# The workflows users call; the repo's own CI and release automation are not part of a release.
OWN = frozenset({"ci.yml", "release-please.yml", "selftest.yml"})
REF = re.compile(r"(?P<head>\buses:\s*['\"]?" + re.escape(NAME) + r"(?:/[\w./-]+)?@)(?P<ref>[\w.-]+)")
VERSION = re.compile(r"\d+\.\d+\.\d+")


def workflows(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".github" / "workflows").glob("*.y*ml") if p.name not in OWN)


def refs(root: Path) -> list[tuple[Path, int, str]]:
    """(file, line, ref) of every reference to the bundle in the released workflows."""
    found = []
    for path in workflows(root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found += [(path, number, m.group("ref")) for m in REF.finditer(line)]
    return found


def rewrite(root: Path, ref: str) -> list[Path]:
    """Point every reference at ``ref``; returns the files changed."""
    changed = []
    for path in workflows(root):
        text = path.read_text(encoding="utf-8")
        new = REF.sub(lambda m: m.group("head") + ref, text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version", nargs="?", help="X.Y.Z (with or without a leading v)")
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    parser.add_argument("--major", help="unpin: point the references at the moving tag vMAJOR")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.major is not None:
        if not args.major.isdigit() or args.version or args.check:
            parser.error("--major takes a number and no version")
        target = f"v{args.major}"
    else:
        version = (args.version or "").removeprefix("v")
        if not VERSION.fullmatch(version):
            parser.error(f"version {args.version!r}: use X.Y.Z, e.g. 1.2.3")
        target = f"v{version}"
    found = refs(args.root)
    if not found:
        print(f"pin_refs: no {NAME} reference in {args.root}/.github/workflows", file=sys.stderr)
        return 1
    if args.check:
        wrong = [f"{p.relative_to(args.root)}:{n}: @{r}" for p, n, r in found if r != target]
        for line in wrong:
            print(f"{line} (expected @{target})", file=sys.stderr)
        print(f"{len(found) - len(wrong)} of {len(found)} references are @{target}")
        return 1 if wrong else 0
    for path in rewrite(args.root, target):
        print(f"{path.relative_to(args.root)}: now @{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
