"""One module per subcommand/action. Each defines ``SPEC`` (its inputs and outputs) and
``execute(raw, runner, environ)``. Modules import only the standard library at the top; the
libraries an action needs are imported inside ``execute`` so that building the CLI stays cheap."""

from gitops_release.errors import GitopsReleaseError


class NotImplementedYetError(GitopsReleaseError):
    """The subcommand exists but its behaviour has not been built yet."""

    title = "Not implemented"
