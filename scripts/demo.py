"""The demo behind ./scripts/demo: a dev release and a prod release of the example app, through
the real chain (Docker engine + buildx, a registry with auth, act, the local GitHub API, the example
config repo on a bare origin), then what happened: image and digest, dispatch payload, the config
repo's new commits with their diffs, the rendered overlays."""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.act import Act, snapshot_bundle
from tests.harness.chain import ChainRun, LocalChain
from tests.harness.services import REPO_ROOT, ensure_docker_engine, run_registry

APP = "web-api"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def show(text: str, indent: str = "    ") -> None:
    for line in text.rstrip("\n").splitlines():
        print(f"{indent}{line}")
    sys.stdout.flush()


def last_dispatch(chain: LocalChain):  # type: ignore[no-untyped-def]
    accepted = [r for r in chain.api.dispatch_requests() if r.status == 204]
    if not accepted:
        raise SystemExit("demo: no repository_dispatch reached the GitHub API")
    return accepted[-1]


def report(chain: LocalChain, run: ChainRun, tag: str, overlay: str, head_before: str) -> None:
    registry = chain.registry
    if not run.ok:
        show(run.log[-8000:])
        raise SystemExit(f"demo: the {tag} release failed (log above)")
    platforms = sorted(registry.platforms(APP, tag))
    _, digest = registry.manifest(APP, tag)
    say(f"image pushed: {registry.host}/{APP}:{tag}")
    show(f"digest    {digest}\nplatforms {', '.join(platforms)}\n"
         f"all tags  {', '.join(registry.tags(APP))}")
    request = last_dispatch(chain)
    say(f"repository_dispatch received by the GitHub API: POST {request.path}")
    show(json.dumps(request.body, indent=2))
    say("config repo: new commits on origin/main (what Argo CD / Flux would sync)")
    show(chain.config_repo.origin_git("log", "--stat", "-p", "--format=commit %H%n%n%B",
                                      f"{head_before}..main"))
    say(f"kubectl kustomize {overlay}")
    show(chain.render(overlay))
    print(f"\n    ({tag} release: {run.seconds:.1f} s from push to config-repo commit)")


def release(chain: LocalChain, ref: str, app_repo, label: str):  # type: ignore[no-untyped-def]
    say(f"{label}: act runs the app repo's workflow for {ref} "
        f"(build-push → dispatch → receiver → commit)")
    head = chain.config_repo.origin_head()
    run = chain.release(app_repo, ref)
    return run, head


def forged_dispatch(chain: LocalChain) -> None:
    """What a leaked dispatch token tries: another program into prod, with made-up source
    trailers. The receiver refuses it (the image repository of a target never changes)."""
    import urllib.request

    from tests.harness.github_api import iter_results

    payload = {"event_type": "new-image", "client_payload": {
        "image": "evil.example.net/x/miner:v9.9.9", "release": f"{APP}@v9.9.9",
        "path": f"apps/{APP}/overlays/prod",
        "source": {"repository": f"acme/{APP}", "ref": "refs/tags/v9.9.9"}}}
    say("[3/3] a forged repository_dispatch (image evil.example.net/x/miner:v9.9.9 into prod)")
    head = chain.config_repo.origin_head()
    before = len(chain.api.deliveries)
    request = urllib.request.Request(  # noqa: S310 - the local API on 127.0.0.1
        f"{chain.api.url}/repos/{chain.config_repo.full_name}/dispatches",
        data=json.dumps(payload).encode(), method="POST",
        headers={"Authorization": f"Bearer {chain.token}", "Accept": "application/vnd.github+json"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - local API
        show(f"the GitHub API answered {answer.status}")
    runs = list(iter_results(chain.api.wait_for_deliveries(600)[before:]))
    notices = [line for run in runs for result in run.runs.values()
               for line in result.log.splitlines() if "Refused" in line]
    show("\n".join(notices[:3]) or "(no refusal notice found)")
    moved = chain.config_repo.origin_head() != head
    show(f"config repo origin/main moved: {'yes' if moved else 'no'}")
    if moved or not notices:
        raise SystemExit("demo: the forged dispatch was not refused")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp folder with the repos, registry data and logs")
    parser.add_argument("--version", default="v1.5.0",
                        help="the version tag of the prod release (default v1.5.0; the example "
                             "config repo's prod holds v1.4.0, so older ones are refused)")
    args = parser.parse_args()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="gitops-release-demo-"))
    ok = False
    try:
        say("starting: Docker engine, a registry with auth on 127.0.0.1, the local GitHub API")
        ensure_docker_engine()
        bundle = snapshot_bundle(root / "bundle")
        venvs = Path.home() / ".cache" / "gitops-release" / "demo-action-venvs"
        act = Act(bundle=bundle, venv_root=venvs)
        with run_registry(root / "registry") as registry, \
                LocalChain(root, act, registry, token=f"ghp_demo{secrets.token_hex(16)}") as chain:
            show(f"registry   {registry.url} (user {registry.username})\n"
                 f"GitHub API {chain.api.url}\n"
                 f"config repo {chain.config_repo.work} (origin {chain.config_repo.bare})\n"
                 f"bundle     gitops-release/gitops-release@v1 = {REPO_ROOT}")
            app = chain.make_app(APP)
            show(f"app repo   {app.work}")

            run, head = release(chain, "refs/heads/main", app, "[1/3] dev release")
            tag = last_dispatch(chain).body["client_payload"]["release"].split("@", 1)[1] \
                if run.ok else ""
            report(chain, run, tag, f"apps/{APP}/overlays/dev", head)

            app.git("tag", args.version)
            run, head = release(chain, f"refs/tags/{args.version}", app,
                                f"[2/3] prod release of {args.version}")
            report(chain, run, args.version, f"apps/{APP}/overlays/prod", head)
            forged_dispatch(chain)
        ok = True
    finally:
        elapsed = time.monotonic() - started
        if args.keep or not ok:
            print(f"\nkept for inspection: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        print(f"\n{'done' if ok else 'FAILED'} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
