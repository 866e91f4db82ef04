#!/usr/bin/env bash
# Wall clock judged the only way it travels: against REF, built and run on this
# machine in this job. Committed wall-clock p90s do not move between machines
# (a slower CPU fails them all), so `Thresholds/` keeps only allocation counts
# and peak memory; this script covers time.
#
#   Benchmarks/compare.sh [REF] [-- extra benchmark options, e.g. --filter top]
#
# REF defaults to HEAD~1 (the parent commit). The script checks REF out into a
# git worktree under .build-compare/ and runs REF's benchmarks and this tree's
# in turn, ROUNDS times (default 2: ref, head, ref, head), so that a change in
# the machine's load during the job touches both sides. It compares each side's
# best over the rounds: for wall clock the fastest sample (other load only ever
# adds time), for allocations and peak memory the p90; and fails when head is
# worse than ref by more than the tolerance the benchmark declares (`thresholds:`
# in its Swift file: wall clock +35 %, allocations +10 %, peak memory +30 %).
#
# Exit status: 0 when head is within the tolerances, 2 when a metric regressed,
# 1 when something else went wrong. Each tree's benchmarks get their own
# TMPDIR, so their cached stores never mix schema versions. A JSON summary is
# written to .build-compare/result.json.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
ref="HEAD~1"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then ref="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
extra=("$@")
rounds="${ROUNDS:-2}"

sha="$(git -C "$root" rev-parse --verify "$ref^{commit}")" || { echo "compare.sh: '$ref' is not a commit" >&2; exit 1; }
work="$root/.build-compare"
tree="$work/ref-${sha:0:12}"
rm -rf "$work/p90"
mkdir -p "$work/tmp-ref" "$work/tmp-head" "$work/p90"

if [ ! -d "$tree" ]; then
  echo "compare.sh: checking out $ref (${sha:0:12}) into $tree" >&2
  git -C "$root" worktree add --detach "$tree" "$sha" >/dev/null
fi

run() { # package-dir baseline tmpdir
  echo "compare.sh: $(date +%T) running the benchmarks of $1 as baseline '$2'" >&2
  (cd "$1/Benchmarks" && TMPDIR="$3" swift package --allow-writing-to-package-directory \
     benchmark baseline update "$2" --no-progress --quiet "${extra[@]}" >&2)
  # Each benchmark's p90 of each metric, one JSON file per benchmark.
  mkdir -p "$work/p90/$2"
  (cd "$1/Benchmarks" && swift package --allow-writing-to-directory "$work/p90" \
     benchmark baseline read "$2" --format metricP90AbsoluteThresholds --path "$work/p90/$2" \
     --no-progress "${extra[@]}" >/dev/null)
}

# Baselines of an earlier run (perhaps of other benchmarks) must not count.
rm -rf "$here"/.benchmarkBaselines/*/head[0-9]* "$tree"/Benchmarks/.benchmarkBaselines/*/ref[0-9]*
for r in $(seq 1 "$rounds"); do
  run "$tree" "ref$r" "$work/tmp-ref"
  run "$root" "head$r" "$work/tmp-head"
done

python3 - "$work" "$rounds" "$here/.benchmarkBaselines" "$tree/Benchmarks/.benchmarkBaselines" "${ref} (${sha:0:12})" <<'EOF'
import glob, json, os, sys
work, rounds, baselines, refbaselines, refname = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

def p90s(side):
    best = {}
    for r in range(1, rounds + 1):
        for f in glob.glob(f"{work}/p90/{side}{r}/*.p90.json"):
            bench = os.path.basename(f)[:-len(".p90.json")]
            for metric, value in json.load(open(f)).items():
                key = (bench, metric)
                best[key] = min(best.get(key, value), value)
    return best

def fastest(side, dirs):
    """Wall clock: the fastest sample over all rounds. Load from other work on the
    machine only ever adds time, so the minimum is what the code costs; a p90 moves
    by tens of percent between identical trees on a busy 2-core machine."""
    best = {}
    for r in range(1, rounds + 1):
        for f in glob.glob(f"{dirs}/*/{side}{r}/results.json"):
            results = json.load(open(f))["results"]
            for ident, metrics in zip(results[0::2], results[1::2]):
                for m in metrics:
                    if "wallClock" in m["metric"]:
                        key = (f"{ident['target']}.{ident['name']}", "wallClock (fastest)")
                        value = m["statistics"]["histogram"]["minNonZeroValue"]
                        best[key] = min(best.get(key, value), value)
    return best

# The tolerances the benchmarks declare, from this tree's results
# (`relative` holds percentile/percent pairs; percentile 4 is p90).
tolerance = {}
for f in glob.glob(f"{baselines}/*/head1/results.json"):
    results = json.load(open(f))["results"]
    for ident, metrics in zip(results[0::2], results[1::2]):
        for m in metrics:
            metric = next(iter(m["metric"]))
            pairs = m["thresholds"]["relative"]
            rel = dict(zip(pairs[0::2], pairs[1::2]))
            if 4 in rel:
                name = f"{ident['target']}.{ident['name']}"
                tolerance[(name, metric)] = rel[4]
                if metric == "wallClock":
                    tolerance[(name, "wallClock (fastest)")] = rel[4]

ref = {k: v for k, v in p90s("ref").items() if k[1] != "wallClock"}
head = {k: v for k, v in p90s("head").items() if k[1] != "wallClock"}
ref.update(fastest("ref", refbaselines))
head.update(fastest("head", baselines))
rows, regressions = [], 0
for key in sorted(set(ref) & set(head)):
    limit = tolerance.get(key)
    if limit is None or ref[key] == 0:
        continue
    change = 100.0 * (head[key] - ref[key]) / ref[key]
    worse = change > limit
    regressions += worse
    rows.append({"benchmark": key[0], "metric": key[1], "ref": ref[key], "head": head[key],
                 "changePercent": round(change, 1), "tolerancePercent": limit, "regressed": worse})

width = max([len(r["benchmark"]) for r in rows] + [9])
print(f"{'benchmark':<{width}}  {'metric':<19} {'ref':>14} {'head':>14} {'change':>8} {'limit':>6}")
for r in rows:
    mark = "  REGRESSED" if r["regressed"] else ""
    print(f"{r['benchmark']:<{width}}  {r['metric']:<19} {r['ref']:>14,} {r['head']:>14,} "
          f"{r['changePercent']:>+7.1f}% {r['tolerancePercent']:>5}%{mark}")
json.dump({"ref": refname, "rounds": rounds, "rows": rows, "regressions": regressions},
          open(f"{work}/result.json", "w"), indent=2)
if not rows:
    print("compare.sh: no benchmark ran on both sides", file=sys.stderr); sys.exit(1)
if regressions:
    print(f"compare.sh: {regressions} regression(s) against {refname} (best of {rounds} rounds each)", file=sys.stderr)
    sys.exit(2)
print(f"compare.sh: within the tolerances of {refname} (best of {rounds} rounds each)", file=sys.stderr)
EOF
