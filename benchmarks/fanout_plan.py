"""Benchmark: planning a prod fan-out of 300 sibling overlays whose manifests are ~200 KB each
(discover, parse, choose the target, edit, re-parse and compare, render proof of each plain
folder), in process, nothing written. Two shapes of file: a Deployment beside a ConfigMap that
embeds a large config (most bytes in one block scalar), and a Deployment with thousands of env
entries (most bytes in small nodes). Usage: python -m benchmarks.fanout_plan [--siblings 300]
[--kb 200] [--runs 3] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.lib import machine, summary

HEAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web, region: {region}}}
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/acme/web:v1.0.0
          env:
            - name: REGION
              value: {region}
            - name: APP_RELEASEVERSION
              value: web@v1.0.0
"""


def configmap_file(region: str, size: int) -> str:
    lines = [f"    upstream backend_{i} {{ server 10.0.{i % 250}.{i % 200}:8080; }}  # {region}"
             for i in range(size // 60)]
    return (HEAD.format(region=region) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            "  name: web-config\ndata:\n  nginx.conf: |\n" + "\n".join(lines) + "\n")


def dense_file(region: str, size: int) -> str:
    env = "".join(f"            - name: SETTING_{i}\n              value: \"{region}-{i}\"\n"
                  for i in range(size // 62))
    return HEAD.format(region=region) + env


def build(root: Path, siblings: int, kb: int, shape: str) -> Path:
    make = configmap_file if shape == "configmap" else dense_file
    overlays = root / "apps" / "web" / "overlays"
    for name in ["prod"] + [f"prod-{i:03d}" for i in range(siblings)]:
        (overlays / name).mkdir(parents=True)
        (overlays / name / "deployment.yaml").write_text(make(name, kb * 1024))
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "seed"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return root


def plan_once(root: Path) -> float:
    from gitops_release.receiver import parse_settings, plan_deploy

    raw = {"image": "registry.example.com/acme/web:v1.1.0", "release": "web@v1.1.0",
           "path": "apps/web/overlays/prod", "digest": "", "container": "", "workload": "",
           "release-env": "APP_RELEASEVERSION", "config-root": ".", "fan-out": "true",
           "allow-downgrade": "false", "push": "false", "dry-run": "true",
           "commit-message": "Deploy {release}", "git-user-name": "b", "git-user-email": "b@b",
           "max-attempts": "10", "source": "", "token": ""}
    settings = parse_settings(raw, "new-image")
    start = time.perf_counter()
    plan = plan_deploy(root, settings)
    seconds = time.perf_counter() - start
    if plan.refusal is not None or len(plan.changed) != len(plan.overlays):
        raise RuntimeError(f"unexpected plan: {plan.refusal} {len(plan.changed)}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--siblings", type=int, default=300)
    parser.add_argument("--kb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rows = []
    for shape in ("configmap", "dense"):
        with tempfile.TemporaryDirectory(prefix=f"bench-fanout-{shape}-") as tmp:
            root = build(Path(tmp), args.siblings, args.kb, shape)
            size = sum(p.stat().st_size for p in root.glob("apps/**/*.yaml"))
            times = [plan_once(root) for _ in range(args.runs)]
            row = {"shape": shape, "files": args.siblings + 1, "mb": round(size / 2**20, 1),
                   "plan": summary(times)}
            rows.append(row)
            print(f"{shape:>9}: {args.siblings + 1} files, {row['mb']} MB: planning p50 "
                  f"{row['plan']['p50']:.2f}s (min {row['plan']['min']:.2f}s, "
                  f"max {row['plan']['max']:.2f}s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
