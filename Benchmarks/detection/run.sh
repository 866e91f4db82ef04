#!/usr/bin/env bash
# What telling configuration audit records apart (SPEC §13) costs the decode path: one
# flows-only file decoded with and without the detection, alternating in one process so
# both see the same machine, medians and their ratio printed. A quick optimised build of
# FlowModel and FlowIngest alone (no full release build; Ingester.swift, the only file
# that needs the store, is left out), about a minute of one core.
#
#   Benchmarks/detection/run.sh [nodes=50] [duration=1h] [container=jsonl] [rounds=15]
#
# The same hour of a 50-node tailnet as the ordo-one benchmarks, whose pair decode-jsonl and
# decode-jsonl-no-change-detection measures the same.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${TMPDIR:-/tmp}/tailflow-detection-$$"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
flags=(-O -swift-version 6 -enable-upcoming-feature ExistentialAny -enable-upcoming-feature InternalImportsByDefault
       -enable-upcoming-feature MemberImportVisibility)
swiftc "${flags[@]}" -wmo -parse-as-library -emit-library -static -module-name FlowModel \
  "$root"/Sources/FlowModel/*.swift -o "$work/libFlowModel.a" -emit-module-path "$work/FlowModel.swiftmodule"
mapfile -t ingest < <(find "$root/Sources/FlowIngest" -name '*.swift' ! -name Ingester.swift)
swiftc "${flags[@]}" -wmo -parse-as-library -emit-library -static -module-name FlowIngest -I "$work" -I "$root/Sources/CZlib" \
  "${ingest[@]}" -o "$work/libFlowIngest.a" -emit-module-path "$work/FlowIngest.swiftmodule"
swiftc "${flags[@]}" -I "$work" -I "$root/Sources/CZlib" "$here/main.swift" "$work/libFlowIngest.a" "$work/libFlowModel.a" -lz \
  -o "$work/decode"
tailflow="${TAILFLOW:-$root/.build/debug/tailflow}"
"$tailflow" generate --nodes "${1:-50}" --duration "${2:-1h}" --start 2026-11-02T09:00:00Z --container "${3:-jsonl}" --output "$work/flows" >&2
"$work/decode" "$work/flows" "${4:-15}"
