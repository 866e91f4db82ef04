#!/usr/bin/env bash
# The scale run (not part of CI): generate N days of an M-node tailnet straight
# into `tailflow ingest` (no JSON on disk), then time the questions.
#
#   Benchmarks/scale/run.sh [NODES] [DAYS] [RATE] [WORKDIR]     defaults: 1000 30 1.0 /tmp/tailflow-scale
#
# Prints the ingest summary, wall time and peak memory (GNU time), the file size
# per flow row, and a table of query latencies (query-times.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nodes=${1:-1000}; days=${2:-30}; rate=${3:-1.0}; work=${4:-/tmp/tailflow-scale}
start=2026-10-01T00:00:00Z
end=$(date -u -d "$start + $days days" +%Y-%m-%dT%H:%M:%SZ)
(cd "$here/../.." && swift build -c release --product tailflow)
tf="$here/../../.build/release/tailflow"
mkdir -p "$work"; db="$work/scale-$nodes-$days.db"; rm -f "$db" "$db-wal" "$db-shm"
echo "generating $days days of a $nodes-node tailnet (rate $rate) into $db"
"$tf" generate --nodes "$nodes" --duration "${days}d" --rate "$rate" --start "$start" --devices "$work/devices.json" \
  | /usr/bin/time -v "$tf" ingest --db "$db" --quiet --format json - 2> "$work/time.txt"
grep -E "Elapsed|Maximum resident" "$work/time.txt"
rows=$(sqlite3 "$db" "SELECT sum(row_count) FROM message_groups")
size=$(stat -c %s "$db")
echo "flow rows: $rows, file: $size bytes, $(python3 -c "print(round($size / $rows, 1))") bytes per row"
"$tf" nodes import "$work/devices.json" --db "$db" >/dev/null
python3 "$here/query-times.py" "$tf" "$db" "$start" "$end"
