import GRDBSQLite
import FlowModel
import Foundation

/// The levels of a day and more, folded in from the hour level later than the rest is written.
///
/// A commit of the server holds a few tens of thousands of rows spread over every reporter:
/// writing each of them to every reporter's day, 2-, 4-, 8- and 16-day buckets too cost more
/// log pages than the rows and the finer levels together. A writer that defers those levels
/// (``FlowWriter/deferLongLevels``) writes a row of a message that starts at or after the
/// levels' mark to the minute and hour levels only; once the data has moved on past an hour
/// (by the margin given), it reads the finished hours since the mark back from the hour level,
/// adds them to the longer levels and moves the mark to the end of them, in the same
/// transaction. Rows that start before the mark (late ones) go to every level at once.
///
/// So at every commit each longer level holds exactly the rows that start before the mark
/// (schema/012_rollup_marks.sql) and the hour level holds everything: questions read a longer
/// level's buckets that end by the mark and the hour level after it (``LevelCoverage/latest(_:)``).
/// A writer that does not defer (`ingest`, `import`, `pull`, `nodes import`) folds every hour
/// after the mark in at its first commit and deletes the mark. A prune keeps the hours from the
/// start of the mark's day on (``Pruner``). A server that has received nothing for a while folds
/// the hour of the newest data in once the clock has left it by the margin (``foldIdle()``).
///
/// No writer puts a row of a message that starts after its ``horizon(_:)`` (the hour after next)
/// into the longer levels: such rows (a node's clock far ahead) stay in the minute and hour
/// levels under a mark at the horizon until the clock comes near them, so that they can never
/// push a server's first mark past every row it will be sent.
///
/// The mark only moves forward while a store has one: a writer makes one at the hour after the
/// latest row the longer levels may hold (the latest message or hour kept; in an empty store, the
/// hour of the first batch), and no earlier than the midnight after the hour level's cut, so that
/// no row after it is in the longer levels and none of its hours was pruned.
extension FlowWriter {
    /// Reads the stored mark at the start of a batch (in its transaction, so that another
    /// process's writer that folded everything in between is seen).
    func loadMark() throws {
        longMark = try storedMark()
        longMarkChanged = false
        // What was stored before this batch (a mark is made after it): read now, before the
        // batch's messages are in.
        startedAfter = longMark == nil ? try latestInLongLevels() : nil
    }

    /// Where the hour level's kept time begins (`retention`), nil when it was never pruned.
    func hourKeptFrom() throws -> Nanoseconds? {
        let s = try RawStatement(sqlite, "SELECT kept_from_ns FROM retention WHERE level = 3600")
        defer { s.reset() }
        return try s.step() ? s.optionalInt64(0) : nil
    }

    /// A time at or after the start of the latest row the levels of a day and more may hold (ns),
    /// nil when they hold none: the latest message, or the latest hour bucket (raw rows may have
    /// been pruned while the hours are kept: a fold must never add an hour that is in them
    /// already), or, with neither left, the end of the latest bucket of those levels.
    func latestInLongLevels() throws -> Nanoseconds? {
        func value(_ sql: String, _ step: Int64? = nil) throws -> Int64? {
            let s = try RawStatement(sqlite, sql)
            defer { s.reset() }
            if let step { s.bind(1, step) }
            return try s.step() ? s.optionalInt64(0) : nil
        }
        // Each reporter's latest bucket of a step: one probe of the key each.
        let latestBucket = "SELECT max((SELECT bucket FROM rollups r WHERE r.step = ?1 AND r.reporter = n.id ORDER BY r.bucket DESC LIMIT 1)) FROM nodes n"
        let raw = try newestStart()
        let hour = try value(latestBucket, 3600).map { $0 * Timestamp.nanosPerSecond }
        if raw != nil || hour != nil { return max(raw ?? .min, hour ?? .min) }
        var end: Nanoseconds?
        for step in RollupStep.all where step >= RollupStep.day {
            if let b = try value(latestBucket, step) { end = max(end ?? .min, (b + step) * Timestamp.nanosPerSecond - 1) }
        }
        return end
    }

    /// The latest start of a stored message (ns), nil when none: the groups of the last minute, decoded.
    func newestStart() throws -> Nanoseconds? {
        let last = try RawStatement(sqlite, "SELECT max(id) FROM message_groups")
        defer { last.reset() }
        guard try last.step(), let id = last.optionalInt64(0) else { return nil }
        let minute = MessageGroup.minute(ofID: id)
        let s = try RawStatement(sqlite, "SELECT body FROM message_groups WHERE id >= ?")
        s.bind(1, MessageGroup.firstID(minute: minute))
        defer { s.reset() }
        var newest: Nanoseconds?
        var headers: [MessageGroup.Message] = []
        while try s.step() {
            _ = try MessageGroup.decodeHeaders(s.blob(0), minute: minute, into: &headers)
            for m in headers { newest = max(newest ?? .min, m.start) }
        }
        return newest
    }

    /// The stored mark of the levels of a day and more (the earliest, should they differ), nil
    /// when they are complete.
    func storedMark() throws -> Nanoseconds? {
        let s = try RawStatement(sqlite, "SELECT min(complete_to_ns) FROM rollup_marks")
        defer { s.reset() }
        return try s.step() ? s.optionalInt64(0) : nil
    }

    /// The hour boundary after which every writer keeps rows out of the levels of a day and more
    /// (they stay in the minute and hour levels under a mark, and are folded in once the clock
    /// has come near them): the start of the hour after the one after `now`. A message stamped
    /// far in the future (a node's clock years ahead) must not put the mark past it, which would
    /// send every later row to every level, the deferral lost until the clock gets there.
    static func horizon(_ now: Nanoseconds) -> Nanoseconds {
        let hour = 3600 * Timestamp.nanosPerSecond
        return Timestamp.bucketStart(now, step: hour) + 2 * hour
    }

    /// The latest minute bucket of this batch (ns), nil when it holds no row.
    func latestInBatch() -> Nanoseconds? {
        minuteRollups.keys.lazy.map(\.bucket).max().map { $0 * Timestamp.nanosPerSecond }
    }

    /// Makes a mark for a deferring writer that has none, and folds in the finished hours: for a
    /// writer that does not defer, all of them up to the ``horizon(_:)``.
    func advanceMark() throws {
        let hour = 3600 * Timestamp.nanosPerSecond
        let now = clock()
        let horizon = Self.horizon(now)
        if let margin = deferLongLevels {
            if longMark == nil {
                // No row after the mark may be in the longer levels: they hold every row stored before.
                if let latest = startedAfter {
                    longMark = Self.later(Timestamp.bucketStart(latest, step: hour), by: hour)
                } else if let first = minuteRollups.keys.lazy.map(\.bucket).min() {
                    // An empty store: no later than the horizon, should the first batch come from the future.
                    longMark = min(Timestamp.bucketStart(first * Timestamp.nanosPerSecond, step: hour), horizon)
                } else {
                    return
                }
                // Nor may a row be left to the hour level where a prune may have deleted hours of its
                // day (that day's bucket could then answer nothing) or may delete its own first.
                if let kept = try hourKeptFrom() { longMark = max(longMark!, Self.ceilDay(kept)) }
                longMarkChanged = true
            }
            // Up to the hour that the newest data (never later than the clock) has left by `margin`.
            guard let newest = try newestStart(), let mark = longMark else { return }
            let target = Timestamp.bucketStart(min(newest, now) - margin, step: hour)
            if target > mark {
                if defersUpkeep {
                    // After the commit, in a transaction of its own (``foldFinishedHours()``): the
                    // batch's submitters are told first.
                    foldDue = true
                } else {
                    try fold(from: mark, to: target)
                    longMark = target
                    longMarkChanged = true
                }
            }
        } else if let mark = longMark {
            let target = max(mark, horizon)
            if target > mark { try fold(from: mark, to: target) }
            // Rows after the horizon (stored, or in this batch) stay out under a mark at it.
            let latest = max(try latestInLongLevels() ?? .min, latestInBatch() ?? .min)
            let next: Nanoseconds? = latest >= target ? target : nil
            if next != longMark {
                longMark = next
                longMarkChanged = true
            }
        } else if let latest = latestInBatch(), latest >= horizon {
            // A batch with rows from after the horizon, in a store whose longer levels are complete: a
            // mark at the horizon keeps them out, unless a row after it is in those levels already
            // (stored before this rule); and never before the midnight after the hour level's cut.
            var mark = horizon
            if let kept = try hourKeptFrom() { mark = max(mark, Self.ceilDay(kept)) }
            if latest >= mark, (startedAfter ?? .min) < mark {
                longMark = mark
                longMarkChanged = true
            }
        }
    }

    /// Folds in, in a transaction of its own, the hours that a commit of a writer that defers its
    /// upkeep (``defersUpkeep``) found the data has left by the margin: what ``advanceMark()``
    /// does inside the batch of any other deferring writer. Between the two transactions the
    /// store is as between any two commits: the longer levels hold the rows before the mark.
    func foldFinishedHours() throws {
        guard let margin = deferLongLevels, !inTransaction else { return }
        let hour = 3600 * Timestamp.nanosPerSecond
        try inOwnTransaction {
            guard let mark = longMark, let newest = try newestStart() else { return }
            let target = Timestamp.bucketStart(min(newest, clock()) - margin, step: hour)
            guard target > mark else { return }
            try fold(from: mark, to: target)
            longMark = target
            longMarkChanged = true
            try storeMark()
        }
    }

    /// Folds in the hour that holds the newest data once the clock has left it by the writer's
    /// margin, in a transaction of its own: the server calls it after it has received nothing for
    /// a while, so that the longer levels do not wait for data that may not come (overnight, or at
    /// the end of a replay). Returns when to try again (ns, by ``clock``) if that hour has not
    /// ended yet by that margin, nil when there is nothing left to fold.
    ///
    /// Never past the hour the clock has left by the margin: newer data (a node whose clock runs
    /// ahead) waits for the clock, and the hours up to it are folded meanwhile.
    func foldIdle() throws -> Nanoseconds? {
        guard let margin = deferLongLevels, !inTransaction else { return nil }
        let hour = 3600 * Timestamp.nanosPerSecond
        return try inOwnTransaction {
            var retry: Nanoseconds?
            let newest = try newestStart()
            if var mark = longMark, let newest {
                // Saturating: a message may be stamped in the last hour a timestamp can hold (2262).
                let newestEnd = Self.later(Timestamp.bucketStart(newest, step: hour), by: hour)
                let end = min(newestEnd, Timestamp.bucketStart(clock() - margin, step: hour))
                if end > mark {
                    try fold(from: mark, to: end)
                    mark = end
                    longMark = end
                    longMarkChanged = true
                    try storeMark()
                }
                // The next hour once the clock has left it by the margin.
                if newestEnd > mark { retry = Self.later(Self.later(mark, by: hour), by: margin) }
            }
            return retry
        }
    }

    /// `t + d`, or the latest time there is where that would overflow.
    static func later(_ t: Nanoseconds, by d: Nanoseconds) -> Nanoseconds {
        let (sum, overflow) = t.addingReportingOverflow(d)
        return overflow ? .max : sum
    }

    /// The first midnight (UTC) at or after `t`.
    static func ceilDay(_ t: Nanoseconds) -> Nanoseconds {
        let day = RollupStep.day * Timestamp.nanosPerSecond
        let floor = Timestamp.bucketStart(t, step: day)
        return floor == t ? t : floor + day
    }

    /// Writes the mark when it moved (or deletes it when the levels are complete).
    func storeMark() throws {
        guard longMarkChanged else { return }
        try exec("DELETE FROM rollup_marks")
        if let mark = longMark {
            let s = try RawStatement(sqlite, "INSERT INTO rollup_marks (level, complete_to_ns) VALUES (?, ?)")
            for level in RollupStep.all where level >= RollupStep.day {
                s.bind(1, level)
                s.bind(2, mark)
                try s.run()
            }
        }
        longMarkChanged = false
    }

    /// Adds the stored hour buckets of `[from, to)` (ns, hour boundaries; nil: all after `from`)
    /// to the levels of a day and more, one reporter at a time.
    func fold(from: Nanoseconds, to: Nanoseconds?) throws {
        let traced = Trace.isOn ? Trace.now() : 0
        let tracedCPU = Trace.isOn ? Trace.cpu() : 0
        defer {
            if Trace.isOn {
                phases["fold", default: 0] += Trace.now() - traced
                phases["foldcpu", default: 0] += Trace.cpu() - tracedCPU
            }
        }
        let fromBucket = Timestamp.floorDivMod(from, Timestamp.nanosPerSecond).0
        let toBucket = to.map { Timestamp.floorDivMod($0, Timestamp.nanosPerSecond).0 } ?? .max
        // Every node (a handful of key probes for those without hours there): rollups are only
        // ever written for nodes.
        let reporters = try RawStatement(sqlite, "SELECT id FROM nodes ORDER BY id")
        var ids: [Int64] = []
        do {
            defer { reporters.reset() }
            while try reporters.step() { ids.append(reporters.int64(0)) }
        }
        let hours = try RawStatement(sqlite, "SELECT bucket, sums FROM rollups WHERE step = 3600 AND reporter = ?1 AND bucket >= ?2 AND bucket < ?3")
        for reporter in ids {
            var current = MixTable<RollupKey, Counters>()
            hours.bind(1, reporter)
            hours.bind(2, fromBucket)
            hours.bind(3, toBucket)
            do {
                defer { hours.reset() }
                while try hours.step() {
                    let bucket = hours.int64(0)
                    let blob = UnsafeRawBufferPointer(start: sqlite3_column_blob(hours.handle, 1),
                                                      count: Int(sqlite3_column_bytes(hours.handle, 1)))
                    try RollupCodec.decode(blob) { e in
                        let key = RollupKey(bucket: bucket, reporter: reporter, src: e.src, dst: e.dst, kind: e.kind.rawValue,
                                            proto: e.proto, port: e.port, side: e.side).rebucketed(RollupStep.day)
                        current.update(key, default: Counters()) { $0.add(e.counters) }
                    }
                }
            }
            guard !current.isEmpty else { continue }
            for (i, step) in RollupStep.all.enumerated() where step >= RollupStep.day {
                try writeRollups(step: step, current)
                guard i + 1 < RollupStep.all.count else { break }
                let coarser = RollupStep.all[i + 1]
                var next = MixTable<RollupKey, Counters>(capacity: current.count / 2)
                for j in current.indices {
                    let c = current.values[j]
                    next.update(current.keys[j].rebucketed(coarser), default: Counters()) { $0.add(c) }
                }
                current = next
            }
        }
    }
}
