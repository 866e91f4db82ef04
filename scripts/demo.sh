#!/usr/bin/env bash
# Builds tailflow and runs its main job on sample data: a generated tailnet of
# 50 nodes over the last 6 whole hours up to now (deterministic for a given
# start, from the bundled generator), ingested into ./sample.db, then what
# landed: top talkers, top pairs, traffic per hour, an HTML report of the window
# (sample-report.html), and the line that serves the web pages. Because the data
# ends at the current hour, the questions' default window (--from -24h) shows it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product tailflow
tf=.build/release/tailflow
mkdir -p samples
start=$(date -u -d "$(date -u +%Y-%m-%dT%H:00:00Z) - 6 hours" +%Y-%m-%dT%H:%M:%SZ)
$tf generate --nodes 50 --duration 6h --start "$start" --gzip \
    --output samples/sample.jsonl.gz --devices samples/sample-devices.json
rm -f sample.db sample.db-wal sample.db-shm
$tf nodes import samples/sample-devices.json --db sample.db
$tf ingest samples/sample.jsonl.gz --db sample.db
window=(--from "$start" --to now)
echo; echo "== top talkers"
$tf top --db sample.db "${window[@]}" --limit 10
echo; echo "== top pairs"
$tf top --db sample.db "${window[@]}" --by pair --limit 5
echo; echo "== traffic per hour and kind"
$tf rollup --db sample.db "${window[@]}" --step 1h --group-by kind
echo; echo "== one report of the whole window, to mail or archive"
$tf report --db sample.db "${window[@]}" -o sample-report.html
echo; echo "(tailflow nodes --db sample.db lists the $($tf nodes --db sample.db --format ndjson | wc -l) nodes; see README.md for every question)"
echo; echo "To look instead of read, serve the pages; it prints an 'open http://127.0.0.1:8080/?token=…' line to open:"
echo "  $tf serve --db sample.db"
