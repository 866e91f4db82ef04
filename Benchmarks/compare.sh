#!/usr/bin/env bash
# Wall clock judged the only way it travels: against REF, built and run on this
# machine in this job. Committed wall-clock p90s do not move between machines
# (a slower CPU fails them all), so `Thresholds/` keeps only allocation counts
# and peak memory; this script covers time.
#
#   Benchmarks/compare.sh [REF] [-- extra benchmark options, e.g. --filter top]
#
# REF defaults to HEAD~1 (the parent commit). The script checks REF out into a
# git worktree under .build-compare/, runs its benchmarks as baseline "ref",
# runs this tree's as baseline "head", and asks the benchmark plugin whether
# "head" is within the thresholds the benchmarks declare (wall clock p90 +35%,
# allocations +10%, peak memory +30%) of "ref".
#
# Exit status: 0 when head is within the thresholds (or better), 2 when some
# metric regressed, 1 when something else went wrong. Each tree's benchmarks
# get their own TMPDIR, so their cached stores never mix schema versions.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
ref="HEAD~1"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then ref="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
extra=("$@")

sha="$(git -C "$root" rev-parse --verify "$ref^{commit}")" || { echo "compare.sh: '$ref' is not a commit" >&2; exit 1; }
work="$root/.build-compare"
tree="$work/ref-${sha:0:12}"
mkdir -p "$work/tmp-ref" "$work/tmp-head"

if [ ! -d "$tree" ]; then
  echo "compare.sh: checking out $ref (${sha:0:12}) into $tree" >&2
  git -C "$root" worktree add --detach "$tree" "$sha" >/dev/null
fi

run() { # dir baseline tmpdir
  echo "compare.sh: running the benchmarks of $1 as baseline '$2' (release build first; minutes)" >&2
  (cd "$1/Benchmarks" && TMPDIR="$3" swift package --allow-writing-to-package-directory \
     benchmark baseline update "$2" --no-progress --quiet "${extra[@]}")
}

run "$tree" ref "$work/tmp-ref"
run "$root" head "$work/tmp-head"

# The plugin keeps baselines in each package's .benchmarkBaselines/TARGET/NAME/;
# bring REF's next to this tree's so one `baseline check` sees both.
for dir in "$tree/Benchmarks/.benchmarkBaselines"/*/ref; do
  target="$(basename "$(dirname "$dir")")"
  mkdir -p "$here/.benchmarkBaselines/$target"
  rm -rf "$here/.benchmarkBaselines/$target/ref"
  cp -R "$dir" "$here/.benchmarkBaselines/$target/ref"
done

set +e
(cd "$here" && swift package benchmark baseline check ref head --no-progress "${extra[@]}")
status=$?
set -e
case $status in
  0) echo "compare.sh: this tree is within the thresholds of ${ref} (${sha:0:12})" >&2; exit 0 ;;
  4) echo "compare.sh: this tree is better than ${ref} (${sha:0:12}) on some metric, worse on none" >&2; exit 0 ;;
  2) echo "compare.sh: REGRESSION against ${ref} (${sha:0:12}): see the table above" >&2; exit 2 ;;
  *) echo "compare.sh: the benchmark plugin failed (exit $status)" >&2; exit 1 ;;
esac
