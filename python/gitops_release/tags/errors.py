"""The one error of the tag rules: an InputError naming the ``tags`` input."""

from __future__ import annotations

from gitops_release.errors import InputError


def tag_error(message: str, hint: str = "") -> InputError:
    return InputError(message, input_name="tags", hint=hint or
                      "Use docker/metadata-action's tag syntax, e.g. type=semver,pattern={{raw}}")

