"""Reading what a step wrote to its ``GITHUB_OUTPUT`` file."""

from __future__ import annotations


def read_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT heredocs (``name<<delimiter``) → {name: value}."""
    result: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        name, _, delimiter = lines[i].partition("<<")
        end = lines.index(delimiter, i + 1)
        result[name] = "\n".join(lines[i + 1:end])
        i = end + 1
    return result
