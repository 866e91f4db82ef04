package import FlowModel
package import FlowStore

/// How a window is read: whole days, hours and minutes from the rollups, the
/// ragged edges from raw flow rows.
///
/// A flow row belongs to the bucket holding its window start, so a rollup
/// bucket lying inside the window holds exactly the rows a raw scan of that
/// bucket would find; the edge model is additive, so answers are identical to
/// computing from raw rows alone, for any window and step.
package enum Planner {
    package enum Segment: Equatable, Sendable {
        /// Rollup rows of `step` seconds with bucket start in `[from, to)` (ns, aligned).
        case rollup(step: Int64, from: Nanoseconds, to: Nanoseconds)
        /// Raw flow rows with window start in `[from, to)`.
        case raw(from: Nanoseconds, to: Nanoseconds)
        /// Time that no kept level can answer exactly: raw rows were pruned and the
        /// edges are not on a boundary of a level kept there (see ``LevelCoverage``).
        case missing(from: Nanoseconds, to: Nanoseconds)
    }

    /// The rollup levels, coarsest first, in seconds.
    package static let levels: [Int64] = RollupStep.all.reversed()

    /// Covers `window` with the fewest rows: the coarsest aligned buckets that
    /// fit, then finer ones towards the edges, then raw rows.
    ///
    /// - parameter step: when an answer is bucketed (series, rollup), only
    ///   levels that divide `step` can be used, so that no rollup bucket straddles two answer buckets.
    /// - parameter below: use only levels finer than this many seconds (60: raw rows only).
    /// - parameter coverage: what each level still holds after pruning: a level is used only
    ///   where it is kept, and only before its mark where it lags behind the others (the
    ///   finer levels answer the time after); time no usable level holds is a
    ///   ``Segment/missing(from:to:)`` segment.
    package static func plan(_ window: TimeWindow, step: Nanoseconds? = nil, below: Int64? = nil,
                             coverage: LevelCoverage = .complete) -> [Segment] {
        let usable = levels.filter { level in
            (step.map { $0 % (level * Timestamp.nanosPerSecond) == 0 } ?? true) && (below.map { level < $0 } ?? true)
        }
        var out: [Segment] = []
        cover(window.from, window.to, usable[...], coverage, &out)
        return out.sorted { start($0) < start($1) }
    }

    static func cover(_ a: Nanoseconds, _ b: Nanoseconds, _ levels: ArraySlice<Int64>, _ coverage: LevelCoverage, _ out: inout [Segment]) {
        guard a < b else { return }
        guard let level = levels.first else {
            // Raw rows: what lies before the raw level's kept time is gone.
            let kept = max(a, min(b, coverage.earliest(0)))
            if a < kept { out.append(.missing(from: a, to: kept)) }
            if kept < b { out.append(.raw(from: kept, to: b)) }
            return
        }
        let size = level * Timestamp.nanosPerSecond
        let lo = ceilAlign(max(a, coverage.earliest(level)), size)
        // A level that lags (schema/012_rollup_marks.sql) serves only buckets that end by its mark.
        let end = min(b, coverage.latest(level))
        let hi = end <= a ? a : Timestamp.bucketStart(end, step: size)
        if lo < hi {
            out.append(.rollup(step: level, from: lo, to: hi))
            cover(a, lo, levels.dropFirst(), coverage, &out)
            cover(hi, b, levels.dropFirst(), coverage, &out)
        } else {
            cover(a, b, levels.dropFirst(), coverage, &out)
        }
    }

    static func ceilAlign(_ t: Nanoseconds, _ size: Nanoseconds) -> Nanoseconds {
        let floor = Timestamp.bucketStart(t, step: size)
        return floor == t ? t : floor + size
    }

    static func start(_ s: Segment) -> Nanoseconds {
        switch s {
        case .rollup(_, let from, _), .raw(let from, _), .missing(let from, _): from
        }
    }
}
