#!/bin/bash
# The acknowledgement latency of `tailflow serve`'s HEC receiver at an offered load and as fast
# as answered (issue 20: >= 400k rows/s sustained with p99 < 250 ms), for one or more release
# builds run alternately, so that builds compared meet the same machine in the same minutes.
#
#   Benchmarks/load/serve_p99.sh [-r ROUNDS] [-R RATE] [-H HECFILE] [-o RESULTS] BIN [BIN...]
#
#   -r  rounds (default 3): each round runs every binary at RATE, then as fast as answered;
#       even rounds take the binaries in reverse order
#   -R  offered load in flow rows/s (default 400000)
#   -H  the HEC input (default /tmp/tailflow-hec/hec.json): made with the first binary if missing
#       (`tailflow generate --nodes 300 --duration 12h --container splunk`: 5.26 M flow rows,
#       1.34 GB; cut into 851 gzip bodies of 1,000 events, cached beside it, by hec_load.py)
#   -o  JSON lines of every run (default /tmp/tailflow-hec/serve_p99-<time>.jsonl)
#
# With MEASURE_LOCK set, each run holds `flock $MEASURE_LOCK` (shared machines). The load
# client (hec_load.py, 16 keep-alive senders) runs on the same cores as the server.
# Prints, per binary and mode, the medians of the sustained rate, ack p50/p90/p99/max, server
# CPU seconds per million rows, and the range of the load average.
#
# From a fresh clone: swift build -c release --product tailflow
#                     Benchmarks/load/serve_p99.sh .build/release/tailflow
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=3 rate=400000 hec=/tmp/tailflow-hec/hec.json out=
while getopts "r:R:H:o:" opt; do
  case $opt in
    r) rounds=$OPTARG ;; R) rate=$OPTARG ;; H) hec=$OPTARG ;; o) out=$OPTARG ;;
    *) sed -n 2,20p "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n 2,20p "$0"; exit 2; }
bins=()
for b in "$@"; do bins+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")"); done
mkdir -p "$(dirname "$hec")"
if [ ! -s "$hec" ]; then
  echo "making $hec (300 nodes, 12 h) ..." >&2
  "${bins[0]}" generate --nodes 300 --duration 12h --container splunk -o "$hec"
fi
out=${out:-$(dirname "$hec")/serve_p99-$(date -u +%Y%m%dT%H%M%S).jsonl}
lock() { if [ -n "${MEASURE_LOCK:-}" ]; then flock "$MEASURE_LOCK" "$@"; else "$@"; fi; }
for r in $(seq 1 "$rounds"); do
  order=("${bins[@]}")
  if [ $((r % 2)) -eq 0 ]; then
    order=(); for ((i = ${#bins[@]} - 1; i >= 0; i--)); do order+=("${bins[$i]}"); done
  fi
  for mode in "$rate" 0; do
    for b in "${order[@]}"; do
      res=$(lock python3 "$here/hec_load.py" --tailflow "$b" --hec "$hec" --senders 16 --rate "$mode" --json)
      line="{\"bin\":\"$b\",\"round\":$r,\"rate\":$mode,\"result\":$res}"
      echo "$line" >> "$out"
      python3 - "$line" >&2 <<'EOF'
import json, sys
d = json.loads(sys.argv[1]); r = d["result"]; a = r["ack_ms"]
print(f"round {d['round']} {d['bin']} offered {d['rate'] or 'max'}: {r['rows_per_second']:,} rows/s, "
      f"p50 {a['p50']} p99 {a['p99']} max {a['max']} ms (p99 from send {r['ack_from_send_ms']['p99']}), "
      f"statuses {r['statuses']}, server CPU {r['server_cpu_seconds']} s, load {r['loadavg']}")
EOF
    done
  done
done
python3 - "$out" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print("ack latency (ms) from when each body was due by the schedule (open loop) to its 200, 503 retries included;")
print("p99/send: the answered attempt alone (this script's measure before 2026-11-30, which hides stalls)")
print(f"{'binary':40s} {'offered':>8s} {'runs':>4s} {'rows/s':>9s} {'p50':>7s} {'p90':>7s} {'p99':>7s} {'max':>7s} {'p99/send':>8s} {'503s':>5s} {'CPU-s/M':>7s} load")
keys = []
for d in runs:
    if (d["bin"], d["rate"]) not in keys: keys.append((d["bin"], d["rate"]))
for b, rate in keys:
    rs = [d["result"] for d in runs if d["bin"] == b and d["rate"] == rate]
    med = lambda f: statistics.median(f(r) for r in rs)
    loads = [r["loadavg"] for r in rs]
    print(f"{b[-40:]:40s} {rate or 'max':>8} {len(rs):4d} {med(lambda r: r['rows_per_second']):9,.0f} "
          f"{med(lambda r: r['ack_ms']['p50']):7.1f} {med(lambda r: r['ack_ms']['p90']):7.1f} {med(lambda r: r['ack_ms']['p99']):7.1f} "
          f"{med(lambda r: r['ack_ms']['max']):7.1f} {med(lambda r: r.get('ack_from_send_ms', r['ack_ms'])['p99']):8.1f} "
          f"{sum(r['statuses'].get('503', 0) for r in rs):5d} {med(lambda r: r['server_cpu_seconds'] / r['rows'] * 1e6):7.2f} "
          f"{min(loads):.1f}-{max(loads):.1f}")
print(f"(medians; every run in {sys.argv[1]})")
EOF
