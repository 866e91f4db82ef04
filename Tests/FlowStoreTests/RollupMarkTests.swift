import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// The server's writer lets the levels of a day and more lag behind the hour level
/// (schema/012_rollup_marks.sql): what the store holds must stay whole whatever runs between.
@Suite(.ownThreads)
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
            let before = try FlowStore.storedMessages(db, to: mark).reduce(0) { $0 + $1.rowCount }
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
        #expect(try store.pool.read { try Int.fetchOne($0, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") } == 0)
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

    // MARK: Data that stops, data from the future, the hash

    static func mark(_ store: FlowStore) throws -> Nanoseconds? {
        try store.read { try $0.levelCoverage() }.completeTo[RollupStep.day]
    }

    /// Whether every level of a day and more holds exactly the rows before the mark (all of them
    /// without one), and the minute and hour levels all rows.
    static func expectWhole(_ store: FlowStore, _ comment: Comment? = nil) throws {
        let mark = try Self.mark(store)
        try store.pool.read { (db: Database) throws in
            let raw = try store.rawTotals(in: db)
            #expect(try store.rollupTotals(in: db, step: 60) == raw, comment)
            #expect(try store.rollupTotals(in: db, step: 3600) == raw, comment)
            var before = Counters()
            for m in try FlowStore.storedMessages(db, to: mark ?? .max) {
                for r in try RowCodec.decode(m.rows) {
                    before.add(Counters(txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
                }
            }
            for step in RollupStep.all where step >= RollupStep.day {
                #expect(try store.rollupTotals(in: db, step: step) == before, "step \(step) \(comment?.description ?? "")")
            }
        }
        #expect(try store.check(full: true).mismatches.isEmpty, comment)
    }

    /// A server that receives nothing folds the hour of the newest data in once the clock has
    /// left it by the margin: not before (more of that hour may come), and without new data.
    /// The writer's clock is set, so the test holds whatever the hour.
    @Test func anIdleWriterFoldsTheLastHourOnceTheClockHasLeftIt() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("idle.db"))
        let second = Timestamp.nanosPerSecond
        let margin = 600 * second
        try store.withWriter { w in
            w.deferLongLevels = margin
            // 10:00–11:25 of data, written at 11:30 by the writer's clock: the mark ends at 11:00.
            w.clock = { Make.t0 + 5400 * second }
            try w.begin()
            for i in 0..<Int64(86) { try w.add(Make.message(node: Int(i % 3) + 1, at: i * 60, rows: 2, bytes: 10 + i)) }
            try w.commit()
            #expect(try w.storedMark() == Make.t0 + 3600 * second)
            // 11:40: the hour of 11:00 has not ended; try again when it has, by the margin.
            w.clock = { Make.t0 + 6000 * second }
            #expect(try w.foldIdle() == Make.t0 + 7200 * second + margin)
            #expect(try w.storedMark() == Make.t0 + 3600 * second)
            // 12:09: not yet either.
            w.clock = { Make.t0 + 7200 * second + margin - second }
            #expect(try w.foldIdle() != nil)
            #expect(try w.storedMark() == Make.t0 + 3600 * second)
            // 12:10: folded, and nothing is left to fold.
            w.clock = { Make.t0 + 7200 * second + margin }
            #expect(try w.foldIdle() == nil)
            #expect(try w.storedMark() == Make.t0 + 7200 * second)
            #expect(try w.foldIdle() == nil)
        }
        try Self.expectWhole(store)
        try store.pool.read { (db: Database) throws in
            #expect(try store.rollupTotals(in: db, step: RollupStep.day) == (try store.rawTotals(in: db)))
        }
    }

    /// The same through the server's write pipeline: once nothing has come for its idle period,
    /// the last hour of data (long past by the real clock) is folded in without another submission.
    @Test func aServerThatReceivesNothingFoldsTheLastHourIn() async throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("pipeline.db"))
        var policy = WritePolicy.server
        policy.idleFoldAfter = .milliseconds(200)
        let pipeline = WritePipeline(store: store, policy: policy)
        // 10:00–11:25 of 2026-11-01: the commit makes the mark at 10:00; right after it (once the
        // submitter is told) the writer folds up to 11:00 (the newest data, less ten minutes).
        _ = try await pipeline.submit((0..<Int64(86)).map { Make.message(node: Int($0 % 3) + 1, at: $0 * 60, rows: 2, bytes: 10 + $0) })
        let mark = try Self.mark(store)
        #expect(mark == Make.t0 || mark == Make.t0 + 3600 * Timestamp.nanosPerSecond || mark == Make.t0 + 7200 * Timestamp.nanosPerSecond,
                "\(mark.map { Timestamp.formatRFC3339($0) } ?? "none"): made by the commit, folded after it, or at the idle fold already")
        try await eventually { try Self.mark(store) == Make.t0 + 7200 * Timestamp.nanosPerSecond }
        #expect(try Self.mark(store) == Make.t0 + 7200 * Timestamp.nanosPerSecond)
        _ = try pipeline.finish()
        try Self.expectWhole(store)
    }

    /// The server's writer folds the finished hour right after the commit that acknowledged its
    /// batch, in a transaction of its own, with no idle fold to make up for it: skipping that fold
    /// leaves the mark at 10:00 and fails this test.
    @Test func theServerFoldsAfterTheCommitWithoutAnIdleFold() async throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("after-commit.db"))
        var policy = WritePolicy.server
        policy.idleFoldAfter = .seconds(3600)
        let pipeline = WritePipeline(store: store, policy: policy)
        _ = try await pipeline.submit((0..<Int64(86)).map { Make.message(node: Int($0 % 3) + 1, at: $0 * 60, rows: 2, bytes: 10 + $0) })
        try await eventually { try Self.mark(store) == Make.t0 + 3600 * Timestamp.nanosPerSecond }
        #expect(try Self.mark(store) == Make.t0 + 3600 * Timestamp.nanosPerSecond)
        _ = try pipeline.finish()
        try Self.expectWhole(store)
    }

    /// A fold after a commit that fails (here the connection may not write) changes nothing, is
    /// counted, and is done by the upkeep after a later commit; the store stays whole throughout.
    @Test func aFoldThatFailsIsDoneAfterALaterCommit() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("fold-fails.db"))
        let hour = 3600 * Timestamp.nanosPerSecond
        try store.withWriter { w in
            w.deferLongLevels = 10 * 60 * Timestamp.nanosPerSecond
            w.defersUpkeep = true
            w.clock = { Make.t0 + 2 * hour }
            try w.begin()
            for i in 0..<Int64(86) { try w.add(Make.message(node: Int(i % 3) + 1, at: i * 60, rows: 2, bytes: 10 + i)) }
            try w.commit()
            #expect(w.foldDue)
            #expect(try w.storedMark() == Make.t0)
            // The connection may not write for a moment: the fold's writes fail.
            try w.exec("PRAGMA query_only = 1")
            w.upkeepAfterCommit()
            #expect(w.foldFailures == 1)
            try w.exec("PRAGMA query_only = 0")
            #expect(try w.storedMark() == Make.t0)
            try w.begin()
            try w.add(Make.message(node: 1, at: 86 * 60, rows: 2, bytes: 5))
            try w.commit()
            w.upkeepAfterCommit()
            #expect(w.foldFailures == 1)
            #expect(try w.storedMark() == Make.t0 + hour)
        }
        try Self.expectWhole(store)
    }

    /// A message stamped far in the future (a node's clock years ahead), stored by `ingest` before
    /// a server made its first mark, used to put that mark after it: every later row went to every
    /// level, the deferral lost until the clock got there. Every writer now keeps rows after the
    /// horizon (the hour after next) out of the longer levels, under a mark at the horizon.
    @Test func aMessageFromTheFarFutureDoesNotTurnTheDeferralOff() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("future.db"))
        let second = Timestamp.nanosPerSecond
        let hour = 3600 * second
        let now = Make.t0 + 1200 * second                       // 10:20 by the writers' clock
        let future = 400 * 86_400 as Int64                      // seconds after t0
        try store.withWriter { w in
            w.clock = { now }
            try w.begin()
            for i in 0..<Int64(30) { try w.add(Make.message(node: Int(i % 3) + 1, at: i * 60, rows: 2, bytes: 10 + i)) }
            try w.add(Make.message(node: 4, at: future, rows: 3, bytes: 999))
            try w.commit()
            #expect(try w.storedMark() == Make.t0 + 2 * hour, "the horizon: 12:00")
        }
        try Self.expectWhole(store, "after ingest")
        // The server, three hours later by its clock: rows after the mark wait in the hour level and
        // are folded in hour by hour.
        try store.withWriter { w in
            w.clock = { now + 3 * hour }
            w.deferLongLevels = 0
            try w.begin()
            for i in 0..<Int64(70) { try w.add(Make.message(node: Int(i % 3) + 1, at: 7200 + i * 60, rows: 2, bytes: 20 + i)) }
            try w.commit()
            #expect(try w.storedMark() == Make.t0 + 3 * hour, "folded up to the data's last hour, not past the future message")
        }
        try Self.expectWhole(store, "after the server")
        // Another ingest, the same three hours later: folds up to its horizon and keeps the mark there.
        let later = try store.withWriter { w in
            w.clock = { now + 3 * hour }
            try w.begin()
            try w.add(Make.message(node: 5, at: 3 * 3600 + 10, rows: 1, bytes: 5))
            try w.commit()
            return try w.storedMark()
        }
        #expect(later == Make.t0 + 5 * hour)
        try Self.expectWhole(store, "after a second ingest")
        // Once the clock has passed the message, a writer completes every level and drops the mark.
        try store.withWriter { w in
            w.clock = { Make.t0 + (future + 7200) * second }
            try w.begin()
            try w.add(Make.message(node: 5, at: 3 * 3600 + 20, rows: 1, bytes: 6))
            try w.commit()
            #expect(try w.storedMark() == nil)
        }
        try Self.expectWhole(store, "complete")
    }

    /// The content hash (check, case files) covers the mark of the longer levels: it says which of
    /// their buckets questions read. A store without one hashes as before the table existed.
    @Test func theContentHashCoversTheMark() throws {
        let dir = TempDir()
        let store = try Self.lagging(dir.path("hash.db"))
        let lagging = try store.contentHash()
        try store.pool.write { try $0.execute(sql: "UPDATE rollup_marks SET complete_to_ns = complete_to_ns + 3600000000000") }
        #expect(try store.contentHash() != lagging, "a moved mark changes the hash")
        try store.pool.write { try $0.execute(sql: "UPDATE rollup_marks SET complete_to_ns = complete_to_ns - 3600000000000") }
        #expect(try store.contentHash() == lagging)
        // Folded, the table is empty and left out (the hash of a store that never had a mark).
        try store.importNodes([], at: Make.t0)
        #expect(try store.read { try $0.levelCoverage() }.completeTo.isEmpty)
        let complete = try store.contentHash()
        #expect(complete != lagging)
        try store.pool.write { try $0.execute(sql: "INSERT INTO rollup_marks (level, complete_to_ns) VALUES (86400, 0)") }
        #expect(try store.contentHash() != complete)
    }
}

/// The idle fold at the edges: data from after the clock, data at the end of time.
extension RollupMarkTests {
    /// A node whose clock runs a year ahead: the idle fold folds the hours the clock has left (by
    /// the margin) and comes back an hour later; it used to wait for the future message's hour,
    /// leaving every hour up to now to the hour level. Its commit bounds the write-ahead log
    /// like any other commit.
    @Test func anIdleFoldDoesNotWaitForDataFromTheFuture() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("ahead.db"))
        let second = Timestamp.nanosPerSecond
        let margin = 600 * second
        try store.withWriter { w in
            w.deferLongLevels = margin
            // 10:00–11:25 and one message a year ahead, written at 11:30: the mark ends at 11:00.
            w.clock = { Make.t0 + 5400 * second }
            try w.begin()
            for i in 0..<Int64(86) { try w.add(Make.message(node: Int(i % 3) + 1, at: i * 60, rows: 2, bytes: 10 + i)) }
            try w.add(Make.message(node: 4, at: 365 * 86_400, rows: 2, bytes: 7))
            try w.commit()
            #expect(try w.storedMark() == Make.t0 + 3600 * second)
            var commits = 0
            w.afterCommit = { commits += 1 }
            // 12:10: the hour of 11:00 is folded; the next try when 12:00–13:00 has ended, by the margin.
            w.clock = { Make.t0 + 7200 * second + margin }
            #expect(try w.foldIdle() == Make.t0 + 3 * 3600 * second + margin)
            #expect(try w.storedMark() == Make.t0 + 7200 * second)
            #expect(commits == 1, "the idle fold's commit runs the after-commit work (the log's bound)")
        }
        try Self.expectWhole(store)
    }

    /// A message stamped in the last hour a timestamp could hold (2262-04-11T23:47:16Z) was valid
    /// input: the idle fold worked out that hour's end and trapped on the overflow (a server
    /// holding such a message died ten minutes after each start), and so did `check --full`.
    /// tailflow now accepts the years 1678 to 2261; the last hour of those is far enough from the end.
    @Test func anIdleFoldSurvivesAMessageAtTheEndOfTime() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("end.db"))
        let second = Timestamp.nanosPerSecond
        let margin = 600 * second
        let last = (Timestamp.latest / second - 600) - Make.t0 / second     // seconds after t0, ten minutes before the end
        try store.withWriter { w in
            w.deferLongLevels = margin
            w.clock = { Make.t0 + 5400 * second }
            try w.begin()
            for i in 0..<Int64(30) { try w.add(Make.message(node: Int(i % 3) + 1, at: i * 60, rows: 2, bytes: 10 + i)) }
            try w.add(Make.message(node: 4, at: last, rows: 2, bytes: 7))
            try w.commit()
            w.clock = { Make.t0 + 7200 * second + margin }
            let retry = try w.foldIdle()
            #expect(retry == Make.t0 + 3 * 3600 * second + margin)
            #expect(try w.storedMark() == Make.t0 + 7200 * second)
        }
        try Self.expectWhole(store)
    }
}
