package import FlowModel
package import FlowStore

extension Planner {
    /// A level's name as retention spells it: `raw`, `1m`, `1h`, `1d`, `2d`, ….
    package static func levelName(_ level: Int64) -> String {
        level == 0 ? "raw" : DurationText.format(level * Timestamp.nanosPerSecond)
    }

    /// What pruned `level`, as `--retention` spells it: `raw=30d`, `1m=90d`, `1d=2y`.
    static func retention(_ level: Int64, _ coverage: LevelCoverage) -> String {
        let name = level >= RollupStep.day ? "1d" : levelName(level)
        return "\(name)=\(coverage.policy[level] ?? "?")"
    }

    /// The finest rollup level that serves time before the raw level's kept time, or nil when
    /// raw rows serve the whole window (nothing of it was pruned, or no rollup was needed).
    package static func resolution(_ window: TimeWindow, step: Nanoseconds? = nil, below: Int64? = nil,
                                   coverage: LevelCoverage) -> Int64? {
        let rawFrom = coverage.earliest(0)
        guard window.from < rawFrom else { return nil }
        var finest: Int64?
        for segment in plan(window, step: step, below: below, coverage: coverage) {
            if case .rollup(let level, let from, _) = segment, from < rawFrom {
                finest = min(finest ?? level, level)
            }
        }
        return finest
    }

    /// Why `gap` (a ``Segment/missing(from:to:)`` of this plan) cannot be answered exactly,
    /// naming the retention, the earliest time available, and what would work instead.
    package static func gapError(_ gap: (from: Nanoseconds, to: Nanoseconds), window: TimeWindow, step: Nanoseconds? = nil,
                                 below: Int64? = nil, coverage: LevelCoverage) -> RetentionError {
        let rawFrom = coverage.earliest(0)
        var text = "raw flow rows before \(Timestamp.formatRFC3339(rawFrom)) were pruned (retention \(retention(0, coverage)))"
        let usable = levels.reversed().filter { level in
            (step.map { $0 % (level * Timestamp.nanosPerSecond) == 0 } ?? true) && (below.map { level < $0 } ?? true)
        }
        // A level that lags behind (schema/012_rollup_marks.sql) answers only buckets that end by
        // its mark: no boundary of it helps where the bucket holding the gap's start ends later.
        func serves(_ level: Int64) -> Bool {
            let size = level * Timestamp.nanosPerSecond
            return Timestamp.bucketStart(gap.from, step: size) <= coverage.latest(level) - size
        }
        let serving = usable.filter(serves)
        // The finest serving level that still holds the gap's start.
        if let level = serving.first(where: { coverage.earliest($0) <= gap.from }) {
            let size = level * Timestamp.nanosPerSecond
            let edge = window.from == gap.from ? window.from : window.to
            let floor = Timestamp.bucketStart(edge, step: size)
            text += "; before then answers come exactly from \(levelName(level)) rollups, so a window edge there must lie on a"
                + " \(levelName(level)) boundary: \(Timestamp.formatRFC3339(edge)) does not (use \(Timestamp.formatRFC3339(floor))"
                + " or \(Timestamp.formatRFC3339(floor + size))), or start at \(Timestamp.formatRFC3339(rawFrom)) or later"
            return RetentionError(text)
        }
        if let lagging = usable.first(where: { !serves($0) && coverage.earliest($0) <= gap.from }) {
            text += "; \(levelName(lagging)) rollups and longer hold only the flow rows before"
                + " \(Timestamp.formatRFC3339(coverage.latest(lagging))) so far (the hours after it are added to them later)"
        }
        // No usable level reaches back that far: the question is too fine for what is kept.
        for level in serving where coverage.keptFrom[level] != nil {
            text += ", and \(levelName(level)) rollups before \(Timestamp.formatRFC3339(coverage.earliest(level))) too"
                + " (retention \(retention(level, coverage)))"
        }
        let earliest = ([rawFrom] + serving.map { coverage.earliest($0) }).min()!
        let what: String
        if below == 60 || usable.isEmpty {
            what = "this question needs raw flow rows"
        } else if let step {
            what = "a step of \(DurationText.format(step)) needs rollups of \(levelName(usable.last!)) or finer, or raw flow rows"
        } else {
            what = "this question needs levels finer than those kept"
        }
        text += "; \(what): the earliest time available for it is \(Timestamp.formatRFC3339(earliest))"
        if step != nil, let coarser = levels.reversed().first(where: { coverage.earliest($0) <= gap.from && serves($0) }) {
            text += " (or ask for a step that is a multiple of \(levelName(coarser)))"
        }
        return RetentionError(text)
    }
}
