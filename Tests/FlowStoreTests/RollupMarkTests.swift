import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// The server's writer lets the levels of a day and more lag behind the hour level
/// (schema/012_rollup_marks.sql): what the store holds must stay whole whatever runs between.
struct RollupMarkTests {
    static let hour: Int64 = 3600

    /// Four hours of five reporters, one commit per hour, by a writer that defers with no margin.
    static func lagging(_ path: String) throws -> FlowStore {
        let store = try FlowStore(path: path)
        try store.withWriter { w in
            w.deferLongLevels = 0
            for h in 0..<Int64(4) {
                try w.begin()
                for i in 0..<Int64(50) { try w.add(Make.message(node: Int(i % 5) + 1, at: h * hour + i * 60, rows: 3, bytes: 100 + i)) }
                try w.commit()
            }
        }
        return store
    }

    @Test func theLongerLevelsHoldTheRowsBeforeTheMarkAndAnIngestCompletesThem() throws {
        let dir = TempDir()
        let store = try Self.lagging(dir.path("lag.db"))
        let mark = Make.t0 + 3 * Self.hour * Timestamp.nanosPerSecond
        #expect(try store.read { try $0.levelCoverage() }.latest(RollupStep.day) == mark)
        try store.pool.read { (db: Database) throws in
            let raw = try store.rawTotals(in: db)
            #expect(try store.rollupTotals(in: db, step: 60) == raw)
            #expect(try store.rollupTotals(in: db, step: 3600) == raw)
            let before = try Int64.fetchOne(db, sql: "SELECT sum(row_count) FROM messages WHERE start_ns < ?", arguments: [mark])!
            #expect(before == 450 && raw.txPackets > 0)
            for step in RollupStep.all where step >= RollupStep.day {
                #expect(try store.rollupTotals(in: db, step: step) != raw, "step \(step) holds rows after the mark")
            }
        }
        // Any other writer folds the rest in at its first commit and removes the mark.
        try store.importNodes([], at: Make.t0)
        #expect(try store.read { try $0.levelCoverage() }.completeTo.isEmpty)
        try store.pool.read { (db: Database) throws in
            let raw = try store.rawTotals(in: db)
            for step in RollupStep.all { #expect(try store.rollupTotals(in: db, step: step) == raw, "step \(step)") }
        }
        #expect(try store.check(full: true).mismatches.isEmpty)
    }

    /// A prune whose hour cut lies after the mark keeps the hours the longer levels have not
    /// taken in yet: folded later, they are all there.
    @Test func aPruneKeepsTheHoursNotFoldedYet() throws {
        let dir = TempDir()
        let store = try Self.lagging(dir.path("prune.db"))
        let now = Make.t0 + 6 * Self.hour * Timestamp.nanosPerSecond
        _ = try store.prune(try RetentionPolicy.parse("1h=1h"), now: now)
        try store.pool.read { (db: Database) throws in
            let kept = try Int.fetchOne(db, sql: "SELECT count(*) FROM rollups WHERE step = 3600 AND bucket >= ?",
                                        arguments: [Make.t0 / Timestamp.nanosPerSecond + 3 * Self.hour])!
            #expect(kept == 5, "the five reporters' hour after the mark")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM rollups WHERE step = 3600 AND bucket < ?",
                                     arguments: [Make.t0 / Timestamp.nanosPerSecond + 3 * Self.hour]) == 0)
        }
        try store.importNodes([], at: Make.t0)
        try store.pool.read { (db: Database) throws in
            let raw = try store.rawTotals(in: db)
            for step in RollupStep.all where step >= RollupStep.day {
                #expect(try store.rollupTotals(in: db, step: step) == raw, "step \(step)")
            }
        }
    }
}
