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
