import Foundation
import FlowGenerate
import FlowIngest
import FlowModel
@testable import FlowQuery
import FlowStore
import Testing
import TestSupport

/// The server's writer folds the levels of a day and more in from the hour level once per hour
/// of data (schema/012_rollup_marks.sql): until then they hold only the rows before their mark.
/// Questions over a store caught in that state must answer exactly what a store with complete
/// levels answers, whatever their window.
@Suite(.ownThreads, .serialized)
struct LaggingLevelsTests {
    /// The generated tailnet of the planner property tests (8 nodes, 3 hours across midnight)
    /// stored twice: once by `ingest` (every level complete), once by a writer that lets the
    /// longer levels lag (the server's policy, with no margin so that the mark follows the data
    /// hour by hour). The lagging store gets the later half first, then the earlier half (late
    /// rows, before the mark: they go to every level at once).
    final class Fixture: @unchecked Sendable {
        let dir: URL
        let complete: FlowStore
        let lagging: FlowStore
        let start = Timestamp.parseRFC3339("2026-11-01T22:30:00Z")!
        /// The mark the lagging store ends with: the hour the data ends in.
        let mark = Timestamp.parseRFC3339("2026-11-02T01:00:00Z")!

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-lag-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            complete = try FlowStore(path: dir.appendingPathComponent("complete.db").path)
            lagging = try FlowStore(path: dir.appendingPathComponent("lagging.db").path)
            // The planner property tests' tailnet.
            let (bytes, half) = try PlannerPropertyTests.Fixture.generated(start: start)
            try complete.importNodes(half, at: start)
            try lagging.importNodes(half, at: start)
            let ingester = Ingester(store: complete)
            ingester.policy.rowsPerCommit = 5000
            let all = try ingester.ingest(bytes: bytes, source: "generated")
            precondition(all.rejected == 0)

            let lines = bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) + [UInt8(ascii: "\n")] }
            let later = Ingester(store: lagging)
            later.policy.rowsPerCommit = 5000
            later.policy.longLevelsLag = 0
            let second = try later.ingest(bytes: Array(lines[(lines.count / 2)...].joined()), source: "later")
            let first = try later.ingest(bytes: Array(lines[..<(lines.count / 2)].joined()), source: "earlier")
            precondition(second.rejected == 0 && first.rejected == 0 && first.storedRows + second.storedRows == all.storedRows)
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static let fixture: Fixture? = try? Fixture()

    static let second: Int64 = 1_000_000_000
    static let day = 86_400 * second

    /// Windows that end after the mark (where only the hour level holds everything), before
    /// it, across it, on and off day boundaries; and many more at random.
    static func windows(_ f: Fixture, _ seed: UInt64) -> [TimeWindow] {
        let s = second
        let midnight = Timestamp.parseRFC3339("2026-11-02T00:00:00Z")!
        var out = [
            TimeWindow(from: midnight - 30 * day, to: midnight + 2 * day),    // 30 days: every level
            TimeWindow(from: midnight - day, to: midnight + day),             // two whole days
            TimeWindow(from: midnight, to: midnight + day),                   // the day the mark is in
            TimeWindow(from: midnight - 16 * day, to: midnight + 16 * day),   // a 16-day bucket each side
            TimeWindow(from: f.mark, to: f.mark + day),                       // only after the mark
            TimeWindow(from: midnight - 2 * day, to: f.mark),                 // only before it
            TimeWindow(from: f.mark - 5400 * s, to: f.mark + 1800 * s + 7 * s),
        ]
        var rng = SplitMix(state: seed)
        for _ in 0..<16 {
            let from = f.start - 20 * day + Int64.random(in: 0...(21 * day), using: &rng)
            out.append(TimeWindow(from: from, to: from + Int64.random(in: 1...(40 * day), using: &rng)))
        }
        return out
    }

    @Test func theLongerLevelsHoldOnlyTheRowsBeforeTheMark() throws {
        let f = try #require(Self.fixture)
        let coverage = try f.lagging.read { try $0.levelCoverage() }
        for level in RollupStep.all {
            #expect(coverage.latest(level) == (level >= RollupStep.day ? f.mark : .max), "level \(level)")
        }
        #expect(try f.complete.read { try $0.levelCoverage() }.latest(RollupStep.day) == .max)
        // The day bucket holding the mark has the hour before it, not the half hour after: a
        // planner that read it for a window past the mark would miss rows (and the test below
        // would fail: LaggingLevelsTests was run with the mark ignored to see it fail).
        func bytes(_ store: FlowStore, step: Int64, from: Nanoseconds, to: Nanoseconds) throws -> Int64 {
            try store.read { snapshot in
                var sum: Int64 = 0
                for r in try snapshot.reporters() {
                    try snapshot.rollups(step: step, reporter: r, fromBucket: from / Self.second, toBucket: to / Self.second) { _, e in
                        sum += e.counters.txBytes
                    }
                }
                return sum
            }
        }
        let midnight = f.mark - 3600 * Self.second
        let dayBucket = try bytes(f.lagging, step: RollupStep.day, from: midnight, to: midnight + Self.second)
        #expect(dayBucket == (try bytes(f.lagging, step: 3600, from: midnight, to: f.mark)))
        #expect(dayBucket < (try bytes(f.lagging, step: 3600, from: midnight, to: midnight + Self.day)))
        #expect(try bytes(f.lagging, step: 3600, from: 0, to: .max / 2) == (try bytes(f.complete, step: 3600, from: 0, to: .max / 2)))
        // The planner takes the day level up to the day the mark is in and the hours after it.
        let plan = Planner.plan(TimeWindow(from: midnight - Self.day, to: midnight + Self.day), coverage: coverage)
        #expect(plan == [.rollup(step: RollupStep.day, from: midnight - Self.day, to: midnight),
                         .rollup(step: 3600, from: midnight, to: midnight + Self.day)])
    }

    @Test(arguments: 1...3)
    func answersEqualACompleteStore(_ seed: UInt64) throws {
        let f = try #require(Self.fixture)
        let complete = QueryEngine(store: f.complete), lagging = QueryEngine(store: f.lagging)
        for window in Self.windows(f, seed) {
            let o = QueryOptions(window: window)
            #expect(try lagging.topEndpoints(o, limit: 10_000) == complete.topEndpoints(o, limit: 10_000), "\(window)")
            #expect(try lagging.topPairs(o, limit: 10_000) == complete.topPairs(o, limit: 10_000), "\(window)")
            var tcp = o
            tcp.proto = 6
            #expect(try lagging.topEndpoints(tcp, limit: 10_000) == complete.topEndpoints(tcp, limit: 10_000), "tcp \(window)")
            for step in [3600 * Self.second, Self.day, 2 * Self.day] {
                // Series answer whole buckets: a window on the step's boundaries.
                let aligned = TimeWindow(from: Timestamp.bucketStart(window.from, step: step),
                                         to: Timestamp.bucketStart(window.to, step: step) + step)
                let so = QueryOptions(window: aligned)
                #expect(try lagging.series(so, step: step) == complete.series(so, step: step), "series \(step) \(aligned)")
                #expect(try lagging.rollup(so, step: step, groupBy: [.src, .dst, .port]) == complete.rollup(so, step: step, groupBy: [.src, .dst, .port]),
                        "rollup \(step) \(aligned)")
            }
            for needle in ["100.", "443", "nothing-matches-this"] {
                let a = try lagging.flowsPage(o, match: needle, limit: 5, countUpTo: 1_000_000)
                let b = try complete.flowsPage(o, match: needle, limit: 5, countUpTo: 1_000_000)
                #expect(a.total == b.total, "match \(needle) \(window)")
            }
        }
    }

    /// Long after the data stopped (the mark stuck where it was), raw rows, minutes and hours are
    /// pruned past the mark: questions over whole days still get the complete store's answers,
    /// the mark's day from the hours a prune keeps for it.
    @Test func questionsAfterAPrunePastTheMarkAreAnsweredAsByACompleteStore() throws {
        let f = try #require(Self.fixture)
        let policy = try RetentionPolicy.parse("raw=1h,1m=1h,1h=1h")
        let now = f.mark + 10 * Self.day
        var engines: [QueryEngine] = []
        for (name, store) in [("complete", f.complete), ("lagging", f.lagging)] {
            let copy = f.dir.appendingPathComponent("\(name)-pruned-\(UUID().uuidString).db").path
            try store.backup(to: copy)
            let pruned = try FlowStore(path: copy)
            _ = try pruned.prune(policy, now: now)
            engines.append(QueryEngine(store: pruned))
        }
        let midnight = f.mark - 3600 * Self.second
        for window in [TimeWindow(from: midnight - 30 * Self.day, to: midnight + Self.day),
                       TimeWindow(from: midnight - Self.day, to: midnight + 2 * Self.day),
                       TimeWindow(from: midnight, to: midnight + Self.day)] {
            let o = QueryOptions(window: window)
            let want = try engines[0].topEndpoints(o, limit: 10_000)
            #expect(!want.isEmpty)
            #expect(try engines[1].topEndpoints(o, limit: 10_000) == want, "\(window)")
            #expect(try engines[1].topPairs(o, limit: 10_000) == engines[0].topPairs(o, limit: 10_000), "\(window)")
            let so = QueryOptions(window: window)
            #expect(try engines[1].series(so, step: Self.day) == engines[0].series(so, step: Self.day), "\(window)")
        }
    }

    @Test func checkFullFindsTheLaggingStoreConsistent() throws {
        let f = try #require(Self.fixture)
        let report = try f.lagging.check(full: true)
        #expect(report.mismatches.isEmpty, "\(report.mismatches)")
        #expect(report.bucketsChecked > 100)
    }

    /// A writer that does not defer folds every hour after the mark in at its first commit and
    /// removes the mark: the longer levels then hold what the complete store's hold.
    @Test func aWriterThatDoesNotDeferCompletesTheLevels() throws {
        let f = try #require(Self.fixture)
        let copy = f.dir.appendingPathComponent("folded-\(UUID().uuidString).db").path
        try f.lagging.backup(to: copy)
        let folded = try FlowStore(path: copy)
        try folded.importNodes([], at: f.start)
        #expect(try folded.read { try $0.levelCoverage() }.completeTo.isEmpty)
        func sums(_ store: FlowStore) throws -> [String: Int64] {
            try store.read { snapshot in
                let stable = Dictionary(uniqueKeysWithValues: try snapshot.nodeEntries().map { ($0.id, $0.stableID) })
                let owners = try snapshot.addressOwners()
                let text = try snapshot.addressTexts(Array(1...max(1, owners.maxAddressID)))
                var out: [String: Int64] = [:]
                for r in try snapshot.reporters() {
                    for step in RollupStep.all {
                        try snapshot.rollups(step: step, reporter: r, fromBucket: .min / 2, toBucket: .max / 2) { bucket, e in
                            let key = "\(step) \(bucket) \(stable[r]!) \(e.kind) \(text[e.src] ?? "-") \(text[e.dst] ?? "-") \(e.proto) \(e.port) \(e.side)"
                            out[key, default: 0] += e.counters.txBytes * 3 + e.counters.rxBytes * 5 + e.counters.txPackets * 7 + e.counters.rxPackets
                        }
                    }
                }
                return out
            }
        }
        #expect(try sums(folded) == sums(f.complete))
        #expect(try folded.check(full: true).mismatches.isEmpty)
    }
}
