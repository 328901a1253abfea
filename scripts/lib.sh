# Shared by scripts/setup, scripts/test and scripts/demo (sourced, not run).
# The development venv lives outside the checkout (act copies the bundle's folder for every
# action it runs; a venv inside it costs seconds per step) and holds only dependencies: the
# package runs from python/ of whichever checkout calls it, so several checkouts share one venv.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dev_venv() {
  local key
  key=$(sha256sum "$here/pyproject.toml" | cut -c1-12)
  echo "${GITOPS_RELEASE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-release/dev-venv-$key}"
}
log() { printf '==> %s\n' "$*" >&2; }
