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
                try snapshot.summarize(&coverageTodo!, for: budget)
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
/// as every hour was before.
struct CoverageBuilds {
    enum State {
        /// Building: the index of its builder.
        case building(Int)
        /// Its summary was written at a commit of this run.
        case written
        /// Left to the refresh after the input (it held messages before, or changed since written).
        case left
    }

    /// Whether the writer builds summaries at all (the policy's choice; off after a rollback,
    /// a prune or another connection's commit).
    var on = false
    /// Per Unix hour.
    var states: [Int64: State] = [:]
    var builders: [CoverageHourBuilder?] = []
    /// The latest message start stored in this batch: hours that ended ten minutes before it are
    /// written at its commit (the batch's, not the run's: one message dated far ahead makes
    /// only its own batch write the hours early).
    var newest: Nanoseconds = .min
    /// The last hour added to, and its builder (a batch's messages mostly share an hour).
    var last: (hour: Int64, builder: Int) = (.min, -1)
    /// `PRAGMA data_version` after this writer's last commit: it changes when another connection commits.
    var dataVersion: Int64?

    /// Stops building: every hour not yet written is left to the refresh.
    mutating func stop() {
        on = false
        states.removeAll()
        builders.removeAll()
        last = (.min, -1)
    }
}

extension FlowWriter {
    /// How long after an hour's end (in message time) its built summary is written.
    static let coverageSettle: Nanoseconds = 600 * Timestamp.nanosPerSecond

    /// Adds a message just stored to its hour's builder (see ``CoverageBuilds``).
    @inline(__always)
    func buildCoverage(reporter: Int64, start: Nanoseconds, end: Nanoseconds, loggedMs: Int64?, rows: [StoredRow]) throws {
        guard coverageBuilds.on else { return }
        let hour = Timestamp.floorDivMod(start, CoverageHour.length).0
        let b: Int
        if coverageBuilds.last.hour == hour {
            b = coverageBuilds.last.builder
        } else {
            switch coverageBuilds.states[hour] {
            case .building(let i)?:
                b = i
            case .written?:
                coverageBuilds.states[hour] = .left
                coverageBuilds.last = (.min, -1)
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
                b = coverageBuilds.builders.count
                coverageBuilds.builders.append(CoverageHourBuilder())
                coverageBuilds.states[hour] = .building(b)
            }
            coverageBuilds.last = (hour, b)
        }
        // The header a reader gets back: `logged` is kept in milliseconds after the end.
        coverageBuilds.builders[b]!.add(reporter: reporter, start: start, end: end,
                                        offset: loggedMs.map { -$0 * 1_000_000 }, rows: rows)
        if start > coverageBuilds.newest { coverageBuilds.newest = start }
    }

    /// A stored message changed (a later copy filled in its `logged`): its hour is left to the refresh.
    func leaveCoverage(_ start: Nanoseconds) {
        guard coverageBuilds.on else { return }
        let hour = Timestamp.floorDivMod(start, CoverageHour.length).0
        if case .building(let i)? = coverageBuilds.states[hour] { coverageBuilds.builders[i] = nil }
        coverageBuilds.states[hour] = .left
        coverageBuilds.last = (.min, -1)
    }

    /// Writes the built summaries of the hours that ended ``coverageSettle`` before the newest
    /// message (all of them when `all`), in the batch's transaction, after the touched hours'
    /// rows were deleted.
    func writeBuiltCoverage(all: Bool) throws {
        defer { coverageBuilds.newest = .min }
        guard coverageBuilds.on, !coverageBuilds.builders.isEmpty else { return }
        let (settled, overflow) = coverageBuilds.newest.subtractingReportingOverflow(Self.coverageSettle + CoverageHour.length)
        var done: [Int64] = []
        for (hour, state) in coverageBuilds.states {
            guard case .building = state else { continue }
            if all || (!overflow && hour * CoverageHour.length <= settled) { done.append(hour) }
        }
        guard !done.isEmpty else { return }
        done.sort()
        let put = try RawStatement(cached: db, "INSERT OR REPLACE INTO coverage_hours (hour, summary) VALUES (?, ?)")
        for hour in done {
            guard case .building(let i)? = coverageBuilds.states[hour], let builder = coverageBuilds.builders[i] else { continue }
            let start = hour * CoverageHour.length
            put.bind(1, hour * 3_600)
            put.bind(2, blob: builder.finish().encode(hour: start))
            defer { put.reset() }
            try put.run()
            coverageBuilds.builders[i] = nil
            coverageBuilds.states[hour] = .written
        }
        coverageBuilds.last = (.min, -1)
        // The builders' list only grows while hours are built; empty it once none is left.
        if !coverageBuilds.states.values.contains(where: { if case .building = $0 { true } else { false } }) {
            coverageBuilds.builders.removeAll()
        }
    }

    /// `PRAGMA data_version` of this connection.
    func dataVersion() throws -> Int64 {
        let s = try RawStatement(cached: db, "PRAGMA data_version")
        defer { s.reset() }
        guard try s.step() else { return 0 }
        return s.int64(0)
    }

    /// At the start of a batch: another connection's commit since this writer's last one may
    /// have stored messages in the hours being built, so building stops.
    func checkCoverageBuilds() throws {
        guard coverageBuilds.on else { return }
        let now = try dataVersion()
        if let before = coverageBuilds.dataVersion, before != now { coverageBuilds.stop() }
        coverageBuilds.dataVersion = now
    }

    /// Ends the run's building: writes every summary still built, in the batch under way or in a
    /// transaction of its own. The pipeline calls it before its last commit.
    func finishCoverageBuilds() throws {
        guard coverageBuilds.on else { return }
        if inTransaction {
            coverageBuildsFinishing = true
        } else if coverageBuilds.states.values.contains(where: { if case .building = $0 { true } else { false } }) {
            try inOwnTransaction { try writeBuiltCoverage(all: true) }
        }
    }
}
