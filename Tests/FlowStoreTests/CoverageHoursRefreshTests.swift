import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// Filling `coverage_hours` (schema/011) on a store whose messages lie centuries apart.
@Suite(.ownThreads)
struct CoverageHoursRefreshTests {
    /// A device without a clock reports from 1970 beside this year's data, and one from the last
    /// accepted year: the refresh summarizes exactly the hours that have messages. It steps over
    /// empty stretches in doubling spans (it used to probe each of the half million hours between,
    /// under the write lock, at every ingest), so a skip that went too far would lose an hour here.
    @Test func theHoursWithMessagesAreFoundAcrossCenturies() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("far.db"))
        let t0s = Make.t0 / Timestamp.nanosPerSecond
        let last = Timestamp.latest / Timestamp.nanosPerSecond - 3600 - t0s
        // Seconds after t0 (2026-11-01T10:00:00Z).
        let starts: [Int64] = [-t0s + 10, 0, 3590, 2 * 3600 + 1800, 2 * 86_400 - 36_000, 2 * 86_400 - 36_000 + 3600, last]
        try store.withWriter { w in
            try w.begin()
            for (i, s) in starts.enumerated() { try w.add(Make.message(node: i % 3 + 1, at: s, rows: 2, bytes: 100)) }
            try w.commit()
        }
        let hours = Set(starts.map { Timestamp.bucketStart(Make.t0 + $0 * Timestamp.nanosPerSecond, step: 3600 * Timestamp.nanosPerSecond) })
        #expect(hours.count == 6)
        #expect(try store.refreshCoverageHours() == hours.count)
        let kept = try store.pool.read { try Int64.fetchAll($0, sql: "SELECT hour FROM coverage_hours ORDER BY hour") }
        #expect(kept.map { $0 * Timestamp.nanosPerSecond } == hours.sorted())
        #expect(try store.refreshCoverageHours() == 0)
        #expect(try store.check(full: true).mismatches.isEmpty)
    }
}

extension CoverageHoursRefreshTests {
    /// `serve` fills the summaries itself, between batches, for the hours that have ended:
    /// a store fed only by the server used to answer `coverage` from every message.
    @Test func aServerSummarizesTheHoursThatHaveEnded() async throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("served.db"))
        var policy = WritePolicy.server
        policy.summarizeCoverageEvery = .milliseconds(100)
        let pipeline = WritePipeline(store: store, policy: policy)
        // Three hours of 2026-11-01: long over by the real clock, whatever the hour now.
        _ = try await pipeline.submit((0..<Int64(180)).map { Make.message(node: Int($0 % 4) + 1, at: $0 * 60, rows: 2, bytes: 10 + $0) })
        func kept() throws -> Int { try store.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM coverage_hours") ?? 0 } }
        try await eventually { try kept() == 3 }
        #expect(try kept() == 3)
        // Late data into the middle hour takes its summary away; the server fills it again.
        _ = try await pipeline.submit([Make.message(node: 9, at: 3600 + 30, rows: 1, bytes: 5)])
        try await eventually { try kept() == 3 }
        #expect(try kept() == 3)
        _ = try pipeline.finish()
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == 3, "\(report.problems)")
    }
}
