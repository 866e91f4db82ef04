import FlowModel

/// The hours (of message window starts) a batch stored or changed messages in: their
/// `coverage_hours` rows (schema/011_coverage_hours.sql) summarize messages that are no longer
/// all there is, so they are deleted in the batch's transaction; a later refresh summarizes
/// the hours again.
struct HoursTouched {
    /// Unix hours, unordered, each once; the last one added first checked (a batch's messages
    /// mostly share an hour).
    private(set) var hours: [Int64] = []
    private var seen: Set<Int64> = []

    @inline(__always)
    mutating func add(_ start: Nanoseconds) {
        let hour = Timestamp.floorDivMod(start, CoverageHour.length).0
        if hours.last == hour { return }
        if seen.insert(hour).inserted { hours.append(hour) }
    }
}

extension FlowWriter {
    /// Deletes the `coverage_hours` rows of the hours this batch touched (before its commit).
    func dropTouchedCoverageHours() throws {
        guard !hoursTouched.hours.isEmpty else { return }
        defer { hoursTouched = HoursTouched() }
        let delete = try RawStatement(cached: db, "DELETE FROM coverage_hours WHERE hour = ?")
        for hour in hoursTouched.hours {
            delete.bind(1, hour * 3_600)
            defer { delete.reset() }
            try delete.run()
        }
    }
}

extension FlowWriter {
    /// One step of filling `coverage_hours` from the long-lived writer (`serve`, between its
    /// batches): summarizes, for about `budget` and in a transaction of its own, hours without a
    /// summary that ended before `settledBefore` (the current hour is still being written: its
    /// summary would be deleted at the next commit). Returns whether hours are left for another
    /// step; the list is made anew once it is used up.
    func summarizeCoverageStep(budget: Duration, settledBefore: Nanoseconds) throws -> Bool {
        guard !inTransaction else { return true }
        do {
            try inOwnTransaction {
                let snapshot = SQLiteSnapshot(db)
                if coverageTodo == nil {
                    coverageTodo = try snapshot.hoursWithoutSummary().filter { $0 <= settledBefore - CoverageHour.length }
                }
                _ = try snapshot.summarize(&coverageTodo!, for: budget)
            }
        } catch {
            coverageTodo = nil
            throw error
        }
        if coverageTodo!.isEmpty {
            coverageTodo = nil
            return false
        }
        return true
    }
}

/// The hours whose summaries the writer builds while it stores their messages (`ingest`: see
/// ``CoverageHourBuilder``), and what became of each hour the run met.
///
/// A summary built so is written only when it holds every message of its hour: the hour held
/// none when the run first met it, every message stored in it since went through the builder,
/// no other connection committed in between, and nothing was rolled back or pruned. Each
/// hour is built at most once, so the work stays linear whatever the order of the input: an
/// hour met again after its summary was written (per-node files of a whole week, a message
/// dated far ahead) is left to the refresh after the input, which reads it from the store,
/// as every hour was before. At most ``FlowWriter/coverageMaxBuilding`` hours are built at
/// once: an hour met beyond them finishes the hour added to least recently, whose summary waits,
/// encoded, for the batch's commit (a batch of a sparse tailnet spans days: before, every hour
/// past the first 24 of a batch was left to the refresh, a serial pass after the input). An hour
/// a batch did not add to is written at its commit, so memory stays bounded whatever the order
/// (input running backwards in time included).
struct CoverageBuilds {
    enum State {
        /// Being built: in ``active``.
        case building
        /// Built, its summary in ``finished`` until the batch's commit writes it.
        case finished
        /// Its summary was written at a commit of this run.
        case written
        /// Left to the refresh after the input (it held messages before, or changed since written).
        case left
    }

    struct Active {
        var hour: Int64
        var builder: CoverageHourBuilder
        /// The last batch that added to it.
        var batch: Int
        /// When a message last switched to it (``touches``): the least recent is finished first.
        var touched: Int
    }

    /// Whether the writer builds summaries at all (the policy's choice; off after a rollback,
    /// a prune or another connection's commit).
    var on = false
    /// Per Unix hour.
    var states: [Int64: State] = [:]
    /// The hours being built, and their builders.
    var active: [Active] = []
    /// Hours built and encoded before the batch's commit (see ``FlowWriter/coverageMaxBuilding``).
    var finished: [(hour: Int64, summary: [UInt8])] = []
    /// Switches between hours, counted.
    var touches = 0
    /// The batch under way (counted by its commits).
    var batch = 0
    /// The last hour added to, and its place in ``active`` (a batch's messages mostly share an hour).
    var last: (hour: Int64, index: Int) = (.min, -1)
    /// `PRAGMA data_version` at the start of this writer's last batch: it changes when another connection commits.
    var dataVersion: Int64?

    /// Stops building: every hour not yet written is left to the refresh.
    mutating func stop() {
        on = false
        states.removeAll()
        active.removeAll()
        finished.removeAll()
        last = (.min, -1)
    }

    /// Leaves an hour being built to the refresh.
    mutating func leave(_ hour: Int64) {
        states[hour] = .left
        active.removeAll { $0.hour == hour }
        finished.removeAll { $0.hour == hour }
        last = (.min, -1)
    }

    /// Finishes the hour added to least recently: its summary waits in ``finished``.
    mutating func finishLeastRecent() {
        guard let i = active.indices.min(by: { active[$0].touched < active[$1].touched }) else { return }
        finish(active.remove(at: i))
        last = (.min, -1)
    }

    /// Finishes every hour being built that `done` picks, in the order they are in ``active``.
    mutating func finishAll(where done: (Active) -> Bool) {
        var kept: [Active] = []
        for a in active {
            if done(a) { finish(a) } else { kept.append(a) }
        }
        active = kept
        last = (.min, -1)
    }

    /// An hour taken out of ``active``, encoded: its summary waits in ``finished`` for the commit.
    private mutating func finish(_ a: Active) {
        finished.append((a.hour, a.builder.finish().encode(hour: a.hour * CoverageHour.length)))
        states[a.hour] = .finished
    }
}

extension FlowWriter {
    /// The most hours built at once; an hour met beyond them finishes the least recent one.
    static let coverageMaxBuilding = 24

    /// Adds a message just stored to its hour's builder (see ``CoverageBuilds``).
    @inline(__always)
    func buildCoverage(reporter: Int64, start: Nanoseconds, end: Nanoseconds, loggedMs: Int64?, rows: [StoredRow]) throws {
        guard coverageBuilds.on else { return }
        let hour = Timestamp.floorDivMod(start, CoverageHour.length).0
        let b: Int
        if coverageBuilds.last.hour == hour {
            b = coverageBuilds.last.index
        } else {
            switch coverageBuilds.states[hour] {
            case .building?:
                b = coverageBuilds.active.firstIndex { $0.hour == hour }!
            case .written?, .finished?:
                // Its summary no longer holds every message: the refresh makes it (a finished
                // one is not written; a written one's row goes at this batch's commit).
                coverageBuilds.leave(hour)
                return
            case .left?:
                coverageBuilds.last = (.min, -1)
                return
            case nil:
                // Messages stored before this run (its own earlier commits are in `states`).
                let from = hour * CoverageHour.length
                if try SQLiteSnapshot(db).hasMessages(from: from, to: from + CoverageHour.length) {
                    coverageBuilds.states[hour] = .left
                    coverageBuilds.last = (.min, -1)
                    return
                }
                if coverageBuilds.active.count >= Self.coverageMaxBuilding { coverageBuilds.finishLeastRecent() }
                b = coverageBuilds.active.count
                coverageBuilds.active.append(CoverageBuilds.Active(hour: hour, builder: CoverageHourBuilder(), batch: coverageBuilds.batch,
                                                                   touched: 0))
                coverageBuilds.states[hour] = .building
            }
            coverageBuilds.last = (hour, b)
            coverageBuilds.active[b].batch = coverageBuilds.batch
            coverageBuilds.touches += 1
            coverageBuilds.active[b].touched = coverageBuilds.touches
        }
        // The header a reader gets back: `logged` is kept in milliseconds after the end.
        coverageBuilds.active[b].builder.add(reporter: reporter, start: start, end: end,
                                             offset: loggedMs.map { -$0 * 1_000_000 }, rows: rows)
    }

    /// A stored message changed (a later copy filled in its `logged`): its hour is left to the refresh.
    func leaveCoverage(_ start: Nanoseconds) {
        guard coverageBuilds.on else { return }
        coverageBuilds.leave(Timestamp.floorDivMod(start, CoverageHour.length).0)
    }

    /// Writes, in the batch's transaction and after the touched hours' rows were deleted, the
    /// built summaries of the hours the batch did not add to (all of them when `all`): the data
    /// has moved on from them, whichever way it runs in time. (An hour a later batch adds to
    /// again is left to the refresh.)
    func writeBuiltCoverage(all: Bool) throws {
        defer {
            coverageBuilds.batch += 1
            // The next batch stamps the hours it adds to from its first message of each.
            coverageBuilds.last = (.min, -1)
        }
        guard coverageBuilds.on else { return }
        let batch = coverageBuilds.batch
        coverageBuilds.finishAll { all || $0.batch != batch }
        guard !coverageBuilds.finished.isEmpty else { return }
        do {
            let put = try RawStatement(cached: db, "INSERT OR REPLACE INTO coverage_hours (hour, summary) VALUES (?, ?)")
            for f in coverageBuilds.finished {
                put.bind(1, f.hour * 3_600)
                put.bind(2, blob: f.summary)
                defer { put.reset() }
                try put.run()
                coverageBuilds.states[f.hour] = .written
            }
            coverageBuilds.finished.removeAll()
        } catch {
            // A cache: a summary that cannot be written never costs the batch its messages (the
            // rows written so far are sound; the other hours are left to the refresh).
            coverageBuilds.stop()
        }
    }

    /// `PRAGMA data_version` of this connection.
    func dataVersion() throws -> Int64 {
        let s = try RawStatement(cached: db, "PRAGMA data_version")
        defer { s.reset() }
        guard try s.step() else { return 0 }
        return s.int64(0)
    }

    /// At the start of a batch: another connection's commit since this writer's last batch may
    /// have stored messages in the hours being built, so building stops.
    func checkCoverageBuilds() throws {
        guard coverageBuilds.on else { return }
        let now = try dataVersion()
        if let before = coverageBuilds.dataVersion, before != now { coverageBuilds.stop() }
        coverageBuilds.dataVersion = now
    }

    /// Ends the run's building: writes every summary still built, in the batch under way or in a
    /// transaction of its own. The pipeline calls it before its last commit. A summary is a cache:
    /// failing to write one in a transaction of its own loses nothing (the refresh makes it).
    func finishCoverageBuilds() {
        guard coverageBuilds.on, !coverageBuilds.active.isEmpty || !coverageBuilds.finished.isEmpty else { return }
        if inTransaction {
            coverageBuildsFinishing = true
        } else {
            do { try inOwnTransaction { try writeBuiltCoverage(all: true) } } catch {}
        }
    }
}
