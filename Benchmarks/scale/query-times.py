#!/usr/bin/env python3
"""Times tailflow's questions on an existing store, through the CLI, end to end.

usage: query-times.py TAILFLOW_BIN DB FROM TO [--repeat 5]

FROM/TO bound the stored data (RFC 3339). Prints one markdown table of medians;
each figure includes process start and opening the store (~10 ms).
"""
import json, statistics, subprocess, sys, time

def run(binary, db, args):
    t = time.perf_counter()
    p = subprocess.run([binary, *args, "--db", db, "--format", "json"], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {p.stderr}")
    return dt, json.loads(p.stdout)

def median(binary, db, args, repeat):
    times, out = [], None
    for _ in range(repeat):
        dt, out = run(binary, db, args)
        times.append(dt)
    return statistics.median(times), out

def main():
    binary, db, start, end = sys.argv[1:5]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 5
    # A day-long window inside the data, ragged on purpose (not aligned to minutes).
    day_from = subprocess.run(["date", "-u", "-d", start + " + 1 day + 7 minutes + 13 seconds", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True).stdout.strip()
    day_to = subprocess.run(["date", "-u", "-d", day_from + " + 1 day", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True).stdout.strip()
    hour_to = subprocess.run(["date", "-u", "-d", day_from + " + 1 hour", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True).stdout.strip()
    rows = []
    t, top = median(binary, db, ["top", "--from", start, "--to", end, "--limit", "20"], repeat)
    rows.append(("top 20 endpoints, whole store", t))
    t, pairs = median(binary, db, ["top", "--from", start, "--to", end, "--by", "pair", "--limit", "20"], repeat)
    rows.append(("top 20 pairs, whole store", t))
    t, _ = median(binary, db, ["top", "--from", day_from, "--to", day_to, "--limit", "20"], repeat)
    rows.append(("top 20 endpoints, 1 day", t))
    a, b = pairs[0]["a"], pairs[0]["b"]
    t, series = median(binary, db, ["series", "--from", day_from, "--to", day_to, "--step", "1m", "--pair", f"{a},{b}"], repeat)
    rows.append((f"1-minute series of the top pair, 1 day ({len(series)} buckets)", t))
    t, scope = median(binary, db, ["scope", "--from", day_from, "--to", hour_to, "--endpoint", top[0]["endpoint"]], repeat)
    rows.append((f"scope of the top endpoint, 1 hour ({len(scope)} peers)", t))
    t, _ = median(binary, db, ["nodes"], repeat)
    rows.append(("nodes (process start + open, for reference)", t))
    print("| question | median |\n|---|---|")
    for name, t in rows:
        print(f"| {name} | {t * 1000:.0f} ms |")

if __name__ == "__main__":
    main()
