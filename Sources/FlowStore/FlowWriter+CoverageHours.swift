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
