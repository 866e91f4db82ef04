#!/usr/bin/env python3
"""Ingest rate of one or more tailflow builds against DuckDB's read_json, on the same file, alternately.

Issue 20's ingest target is a ratio measured in one run: DuckDB's load time divided by tailflow's
(nodes import + ingest, process starts included), on the same JSON Lines file. On a shared machine
only a ratio taken in the same minutes means anything, so each round runs every build and DuckDB
one after the other, and the medians of the rounds are compared.

    python3 Benchmarks/peers/ingest_ratio.py --file day.jsonl --devices devices.json \\
        --bin before=/tmp/bin-before --bin after=.build/release/tailflow --rounds 5

Prints one line per round and a table of medians (wall and CPU seconds, ratios DuckDB / build);
`--json OUT` writes the same numbers. `--lock FILE` holds an flock on FILE for each round, so that
timed runs of several people on one machine do not overlap.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import race  # noqa: E402  (the loaders and their SQL live there)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def locked(path: str | None):
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", required=True, type=Path, help="JSON Lines flow logs (tailflow generate)")
    ap.add_argument("--devices", required=True, type=Path, help="device list (tailflow generate --devices)")
    ap.add_argument("--bin", action="append", required=True, metavar="NAME=PATH",
                    help="a tailflow binary to time; give several to compare builds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", type=Path, help="where the stores go (default: a temporary directory)")
    ap.add_argument("--lock", help="flock this file around each round")
    ap.add_argument("--json", metavar="OUT", help="also write the numbers to OUT as JSON")
    args = ap.parse_args()

    bins = []
    for spec in args.bin:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_file():
            sys.exit(f"ingest_ratio.py: --bin wants NAME=PATH of an existing binary, got {spec!r}")
        bins.append((name, path))

    work = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-ratio-"))
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[tuple[float, float]]] = {n: [] for n, _ in bins} | {"duckdb": []}
    sizes: dict[str, int] = {}
    rows: dict[str, int] = {}
    loads = []
    for r in range(args.rounds):
        with locked(args.lock):
            loads.append(os.getloadavg()[0])
            line = [f"round {r + 1}: load {loads[-1]:.1f}"]
            for name, path in bins:
                c0 = children_cpu()
                out = race.load_tailflow(path, work / f"{name}.db", args.file, args.devices)
                times[name].append((out["seconds"], children_cpu() - c0))
                sizes[name], rows[name] = out["file_bytes"], out["rows"]
                line.append(f"{name} {out['seconds']:.2f} s")
            c0 = self_cpu()
            out = race.load_duckdb(work / "peer.duckdb", args.file, args.devices)
            times["duckdb"].append((out["seconds"], self_cpu() - c0))
            sizes["duckdb"], rows["duckdb"] = out["file_bytes"], out["rows"]
            line.append(f"duckdb {out['seconds']:.2f} s")
            print(", ".join(line), flush=True)

    for name, _ in bins:
        if rows[name] != rows["duckdb"]:
            sys.exit(f"ingest_ratio.py: {name} stored {rows[name]} rows, DuckDB {rows['duckdb']}")
    med = {n: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for n, t in times.items()}
    dw, dc = med["duckdb"]
    print(f"\n{args.file.name}: {rows['duckdb']:,} rows, {args.rounds} rounds, load {min(loads):.1f}-{max(loads):.1f}")
    print(f"{'':10} {'wall s':>8} {'CPU s':>8} {'M rows/s':>9} {'wall ratio':>11} {'CPU ratio':>10} {'B/row':>7}")
    for name in [n for n, _ in bins] + ["duckdb"]:
        w, c = med[name]
        ratio = "" if name == "duckdb" else f"{dw / w:.2f}x"
        cratio = "" if name == "duckdb" else f"{dc / c:.2f}x"
        print(f"{name:10} {w:8.2f} {c:8.2f} {rows['duckdb'] / w / 1e6:9.2f} {ratio:>11} {cratio:>10} "
              f"{sizes[name] / rows['duckdb']:7.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows["duckdb"], "loads": loads, "times": times,
                                               "medians": med, "bytes": sizes}, indent=1))


if __name__ == "__main__":
    main()
