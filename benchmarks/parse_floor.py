"""Benchmark: the floor under planning a prod fan-out of 300 dense 200 KB files (section 9 of
BENCHMARKS.md). Every planned file is parsed twice: once to plan, and once more, edited, for the
proof (issue 11 requires the re-parse). This measures, on the same files as
benchmarks/fanout_plan.py, what those two parses cost with nothing else done:

- libyaml itself, from C (a small program compiled here with the system's gcc and libyaml-dev),
  pulling every event of both parses and freeing it: no Python object at all;
- ruamel.yaml.clib (the C composer the receiver uses), both parses, building the nodes;
- reading and decoding the files in Python.

CPU seconds of this process (or the C program's), so a busy second core does not count.
Usage: python -m benchmarks.parse_floor [--siblings 300] [--kb 200] [--shape dense]
[--json out.json]. Needs gcc and libyaml's headers (Debian: gcc, libyaml-dev) for the C line."""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.fanout_plan import configmap_file, dense_file
from benchmarks.lib import machine

FLOOR_C = r"""
#include <yaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* Parse every file given twice with libyaml, pulling each event; print CPU seconds and events. */
int main(int argc, char **argv) {
    struct timespec a, b;
    long events = 0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) { perror(argv[i]); return 2; }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        unsigned char *buf = malloc(n);
        if (fread(buf, 1, n, f) != (size_t)n) { perror(argv[i]); return 2; }
        fclose(f);
        for (int round = 0; round < 2; round++) {
            yaml_parser_t parser;
            yaml_event_t event;
            int done = 0;
            yaml_parser_initialize(&parser);
            yaml_parser_set_input_string(&parser, buf, n);
            while (!done) {
                if (!yaml_parser_parse(&parser, &event)) {
                    fprintf(stderr, "%s: %s\n", argv[i], parser.problem);
                    return 1;
                }
                done = event.type == YAML_STREAM_END_EVENT;
                events++;
                yaml_event_delete(&event);
            }
            yaml_parser_delete(&parser);
        }
        free(buf);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    printf("%.4f %ld\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, events);
    return 0;
}
"""


def libyaml_seconds(files: list[Path], work: Path) -> tuple[float, int] | str:
    """CPU seconds of libyaml parsing every file twice, and the events it pulled; or why not."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return "no C compiler (install gcc)"
    source = work / "floor.c"
    source.write_text(FLOOR_C)
    build = subprocess.run([gcc, "-O2", str(source), "-lyaml", "-o", str(work / "floor")],
                           capture_output=True, text=True)
    if build.returncode != 0:
        return f"could not build against libyaml (install libyaml-dev): {build.stderr.strip()}"
    run = subprocess.run([str(work / "floor"), *map(str, files)], capture_output=True,
                         text=True, check=True)
    seconds, events = run.stdout.split()
    return float(seconds), int(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--siblings", type=int, default=300)
    parser.add_argument("--kb", type=int, default=200)
    parser.add_argument("--shape", choices=("dense", "configmap"), default="dense")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from gitops_release.yamledit import compose_all

    make = dense_file if args.shape == "dense" else configmap_file
    print(f"machine: {machine()}")
    result: dict[str, object] = {"machine": machine(), "shape": args.shape}
    with tempfile.TemporaryDirectory(prefix="bench-parse-floor-") as tmp:
        work = Path(tmp)
        files = []
        for name in ["prod"] + [f"prod-{i:03d}" for i in range(args.siblings)]:
            path = work / f"{name}.yaml"
            path.write_text(make(name, args.kb * 1024))
            files.append(path)
        size = sum(p.stat().st_size for p in files)
        result.update(files=len(files), mb=round(size / 2**20, 1))
        print(f"{args.shape}: {len(files)} files, {size / 2**20:.1f} MB, each parsed twice")
        rows: dict[str, list[float]] = {"libyaml_c": [], "read": [], "ruamel_clib_compose": []}
        for _ in range(args.runs):
            floor = libyaml_seconds(files, work)
            if isinstance(floor, str):
                print(f"  libyaml from C: not measured: {floor}")
            else:
                rows["libyaml_c"].append(floor[0])
                result["events"] = floor[1]
            start = time.process_time()
            texts = [p.read_bytes().decode("utf-8") for p in files]
            rows["read"].append(time.process_time() - start)
            gc.disable()  # as the receiver plans a fan-out
            start = time.process_time()
            for text in texts:
                for _round in range(2):
                    compose_all(text)
            rows["ruamel_clib_compose"].append(time.process_time() - start)
            gc.enable()
        for key, label in (("libyaml_c", "libyaml from C, events only"),
                           ("read", "read and decode the files"),
                           ("ruamel_clib_compose", "ruamel.yaml.clib composing the nodes")):
            if rows[key]:
                print(f"  {label}: best {min(rows[key]):.2f} CPU-s (runs: "
                      f"{', '.join(f'{s:.2f}' for s in rows[key])})")
        result["cpu_seconds"] = rows
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
