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

    /// A server that starts on a store whose raw rows were all pruned (the hours kept) and is sent
    /// rows older than the latest kept hour: its mark lies after every kept hour, so a fold never
    /// adds an hour the longer levels hold already.
    @Test func aMarkMadeAfterRawRowsWerePrunedLiesAfterTheKeptHours() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("pruned.db"))
        try store.withWriter { w in
            try w.begin()
            for i in 0..<Int64(200) { try w.add(Make.message(node: Int(i % 5) + 1, at: i * 60, rows: 2, bytes: 10 + i)) }
            try w.commit()
        }
        _ = try store.prune(try RetentionPolicy.parse("raw=1d"), now: Make.t0 + 3 * 86_400 * Timestamp.nanosPerSecond)
        #expect(try store.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM messages") } == 0)
        try store.withWriter { w in
            w.deferLongLevels = 0
            try w.begin()
            // Two hours after the first stored minute: before the latest kept hour.
            for i in 0..<Int64(30) { try w.add(Make.message(node: Int(i % 5) + 1, at: 7200 + i * 60 + 7, rows: 2, bytes: 1000 + i)) }
            try w.commit()
        }
        try store.importNodes([], at: Make.t0)
        try store.pool.read { (db: Database) throws in
            let hours = try store.rollupTotals(in: db, step: 3600)
            #expect(hours == (try store.rollupTotals(in: db, step: 60)))
            for step in RollupStep.all where step >= RollupStep.day {
                #expect(try store.rollupTotals(in: db, step: step) == hours, "step \(step)")
            }
        }
    }

    /// A prune planned before the server made its mark (its hour cut after the rows the server is
    /// then sent) must not delete their hours before they are folded in: the mark is made no
    /// earlier than the hour level's recorded cut, so such rows go to every level at once.
    @Test func aMarkIsNeverBeforeTheHourLevelsCut() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("cut.db"))
        let hour = Self.hour * Timestamp.nanosPerSecond
        try store.withWriter { w in
            try w.begin()
            for i in 0..<Int64(100) { try w.add(Make.message(node: Int(i % 5) + 1, at: i * 120, rows: 2, bytes: 10 + i)) }
            try w.commit()
            let pruner = Pruner(writer: w, policy: try RetentionPolicy.parse("1h=1h"), now: Make.t0 + 10 * hour,
                                budget: .milliseconds(50), dryRun: false)
            try pruner.plan()
            w.deferLongLevels = 0
            try w.begin()
            for i in 0..<Int64(20) { try w.add(Make.message(node: Int(i % 5) + 1, at: 5 * Self.hour + i * 60, rows: 2, bytes: 500 + i)) }
            try w.commit()
            // The midnight after the cut at 19:00: the rows at 15:00 went to every level at once.
            #expect(try w.storedMark() == Make.t0 + 14 * hour)
            while try pruner.step() {}
        }
        try store.importNodes([], at: Make.t0)
        try store.pool.read { (db: Database) throws in
            let raw = try store.rawTotals(in: db)
            for step in RollupStep.all where step >= RollupStep.day {
                #expect(try store.rollupTotals(in: db, step: step) == raw, "step \(step)")
            }
        }
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
            // And those of the mark's day before it (its day bucket has only them): the cut
            // recorded is that day's start, so questions over the day are still answered.
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM rollups WHERE step = 3600 AND bucket < ?",
                                     arguments: [Make.t0 / Timestamp.nanosPerSecond + 3 * Self.hour]) == 15)
            #expect(try Int64.fetchOne(db, sql: "SELECT kept_from_ns FROM retention WHERE level = 3600")
                    == Make.t0 - 10 * Self.hour * Timestamp.nanosPerSecond)
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
