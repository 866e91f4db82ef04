import Foundation
import FlowFormat
import FlowGenerate
import FlowIngest
import FlowModel
@testable import FlowQuery
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// The hour summaries `coverage` reads (`coverage_hours`, schema/011): answers from them equal
/// answers from the messages, on windows on and off the hours and minutes, with and without
/// `logged`; every change to an hour's messages (new messages, late ones, a later copy filling in
/// `logged`, prune) deletes its summary in the same transaction, duplicates do not; `check
/// --full` finds a summary that differs from its messages.
@Suite(.ownThreads, .serialized)
struct CoverageHoursTests {
    static let s: Int64 = 1_000_000_000
    static let hour: Int64 = 3600 * s
    static let start = Timestamp.parseRFC3339("2026-11-02T09:00:00Z")!

    /// A generated 3-hour tailnet with a silence, a skewed clock, a dropping node and a silent one.
    static func generated(omitLogged: Bool) throws -> (devices: [NodeInfo], lines: [[UInt8]]) {
        var config = GeneratorConfig(start: start, duration: 3 * hour)
        config.nodes = 24
        config.seed = 11
        let plain = FlowLogGenerator(config)
        let ids = plain.reportingNodeIDs
        config.faults = [.silent(node: ids[0], from: start + 40 * 60 * s, to: start + 60 * 60 * s),
                         .clockSkew(node: ids[1], offset: 90 * s), .dropReports(node: ids[2], share: 1.0 / 3), .neverReports(node: ids[3])]
        config.omitLogged = omitLogged
        var bytes: [UInt8] = []
        _ = try FlowLogGenerator(config).write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
        let lines = bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) + [UInt8(ascii: "\n")] }
        return (try DeviceList.parse(plain.deviceList(), source: "devices"), lines)
    }

    final class Dir: @unchecked Sendable {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-coverage-hours-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }

        /// A store of `parts` ingested one after the other, by an ingest that leaves the summaries
        /// to the refresh unless `building` (what the refresh does is tested here).
        func store(_ name: String, _ devices: [NodeInfo], building: Bool = false, rowsPerCommit: Int? = nil,
                   _ parts: [UInt8]...) throws -> FlowStore {
            let store = try FlowStore(path: url.appendingPathComponent("\(name).db").path)
            try store.importNodes(devices, at: CoverageHoursTests.start)
            for part in parts {
                let ingester = Ingester(store: store)
                ingester.policy.buildsCoverage = building
                if let rowsPerCommit { ingester.policy.rowsPerCommit = rowsPerCommit }
                _ = try ingester.ingest(bytes: part, source: name)
            }
            return store
        }
    }

    /// The questions compared: windows of whole hours, off the hours, off the minutes, wider than
    /// the data, a short gap threshold, filters of the evidence, one node.
    static func answers(_ store: FlowStore) throws -> [[CoverageRow]] {
        let m: Int64 = 60 * s
        let windows = [TimeWindow(from: start, to: start + 3 * hour), TimeWindow(from: start + 7 * m + 13 * s, to: start + 171 * m + 49 * s),
                       TimeWindow(from: start + hour, to: start + 2 * hour), TimeWindow(from: start - hour, to: start + 4 * hour),
                       TimeWindow(from: start + 59 * m, to: start + 121 * m), TimeWindow(from: start + 90 * m, to: start + 3 * hour)]
        let engine = QueryEngine(store: store)
        var out: [[CoverageRow]] = []
        for w in windows {
            out.append(try engine.coverage(QueryOptions(window: w)))
        }
        var o = QueryOptions(window: windows[0])
        out.append(try engine.coverage(o, thresholds: CoverageThresholds(gap: 30 * s)))
        o.kinds = [.virtual]
        o.proto = 6
        out.append(try engine.coverage(o))
        o = QueryOptions(window: windows[1])
        o.endpoint = out[0].first { $0.verdict == .skew }?.node
        out.append(try engine.coverage(o))
        return out
    }

    static func summaries(_ store: FlowStore) throws -> [Int64] {
        try store.pool.read { try Int64.fetchAll($0, sql: "SELECT hour FROM coverage_hours ORDER BY hour") }
    }

    /// The hours (Unix seconds) some message starts in.
    static func hoursWithMessages(_ store: FlowStore) throws -> [Int64] {
        try store.pool.read { try Int64.fetchAll($0, sql: "SELECT DISTINCT (id >> 24) / 60 * 3600 FROM message_groups ORDER BY 1") }
    }

    @Test(arguments: [false, true])
    func summariesGiveTheAnswerOfTheMessages(omitLogged: Bool) throws {
        let dir = try Dir()
        let (devices, lines) = try Self.generated(omitLogged: omitLogged)
        let store = try dir.store("s", devices, lines.flatMap { $0 })
        #expect(try Self.summaries(store).isEmpty, "an ingest that does not build them leaves them to the refresh")
        let fromMessages = try Self.answers(store)
        let hours = try Self.hoursWithMessages(store)
        #expect(hours.count >= 3 && hours.prefix(3) == [0, 1, 2].map { (Self.start + $0 * Self.hour) / Self.s }[...])
        #expect(try store.refreshCoverageHours() == hours.count)
        #expect(try Self.summaries(store) == hours)
        let fromSummaries = try Self.answers(store)
        for (a, b) in zip(fromMessages, fromSummaries) {
            #expect(a == b, "\(Report.coverage(a).render(.table, wide: true))\n\(Report.coverage(b).render(.table, wide: true))")
        }
        #expect(fromMessages[0].contains { $0.skewSource == (omitLogged ? .peers : .logged) && $0.verdict == .skew })
        #expect(try store.refreshCoverageHours() == 0)
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == hours.count, "\(report.problems)")

        // The summaries are what is read: the middle hour's replaced by the last one's changes the
        // answer, and `check --full` names that hour.
        try store.pool.write { db in
            try db.execute(sql: "UPDATE coverage_hours SET summary = (SELECT summary FROM coverage_hours WHERE hour = ?) WHERE hour = ?",
                           arguments: [hours[2], hours[1]])
        }
        #expect(try QueryEngine(store: store).coverage(QueryOptions(window: TimeWindow(from: Self.start, to: Self.start + 3 * Self.hour))) != fromMessages[0])
        let damaged = try store.check(full: true)
        #expect(damaged.coverageHoursDiffer == [Timestamp.formatRFC3339(hours[1] * Self.s)], "\(damaged.problems)")
        #expect(damaged.problems.contains { $0.hasPrefix("coverage: ") })
        // A blob that does not decode is a finding too, not an error of the check; so is a row
        // whose hour is out of range (crafted: the check and a refresh must not trap on it).
        try store.pool.write { db in
            try db.execute(sql: "UPDATE coverage_hours SET summary = x'0202' WHERE hour = ?", arguments: [hours[0]])
            try db.execute(sql: "INSERT INTO coverage_hours (hour, summary) VALUES (10000000000, x'02'), (0, x'00')")
        }
        let crafted = try store.check(full: true)
        #expect(crafted.coverageHoursDiffer == ["1970-01-01T00:00:00Z", Timestamp.formatRFC3339(hours[0] * Self.s),
                                                Timestamp.formatRFC3339(hours[1] * Self.s), "10000000000 s (out of range)"],
                "\(crafted.coverageHoursDiffer)")
        #expect(try store.refreshCoverageHours() == 0, "a damaged row of the current format stays (check names it)")
        try store.pool.write { try $0.execute(sql: "DELETE FROM coverage_hours WHERE hour IN (0, 10000000000)") }
        // A question reads such an hour from its messages (the cache is never the only copy)
        // instead of failing: with the swapped row gone too, every answer is the messages' again.
        try store.pool.write { try $0.execute(sql: "DELETE FROM coverage_hours WHERE hour = ?", arguments: [hours[1]]) }
        #expect(try Self.answers(store) == fromMessages)
    }

    /// New messages in a summarized hour (late data) delete that hour's summary and only that
    /// one; the same messages again (duplicates) delete nothing; the answers stay those of a store
    /// that never had summaries, and a refresh summarizes the hour again.
    @Test func lateDataAndDuplicates() throws {
        let dir = try Dir()
        let (devices, lines) = try Self.generated(omitLogged: true)
        // Every other message of 10:00–11:00 comes late.
        let middle = Array("\"start\":\"2026-11-02T10:".utf8)
        var onTime: [UInt8] = [], late: [UInt8] = []
        for (i, line) in lines.enumerated() {
            if i % 2 == 1, line.firstRange(of: middle) != nil { late += line } else { onTime += line }
        }
        #expect(!late.isEmpty)
        let reference = try dir.store("reference", devices, onTime, late)
        let expected = try Self.answers(reference)
        let store = try dir.store("late", devices, onTime)
        try store.refreshCoverageHours()
        let hours = try Self.summaries(store)
        #expect(hours == (try Self.hoursWithMessages(store)) && hours.count >= 3)
        _ = try Ingester(store: store).ingest(bytes: late, source: "late")
        #expect(try Self.summaries(store) == hours.filter { $0 != hours[1] })
        #expect(try Self.answers(store) == expected)
        #expect(try store.refreshCoverageHours() == 1)
        #expect(try Self.answers(store) == expected)
        // Duplicates store nothing and keep every summary.
        let again = try Ingester(store: store).ingest(bytes: onTime + late, source: "again")
        #expect(again.storedMessages == 0 && again.duplicates > 0)
        #expect(try Self.summaries(store) == hours)
        #expect(try store.check(full: true).isSound)
    }

    /// A later copy that fills in `logged` changes the hour's messages: its summary goes, and the
    /// answers become those of a store ingested with `logged` from the start.
    @Test func aLaterCopyWithLoggedDropsTheSummaries() throws {
        let dir = try Dir()
        let (devices, unlogged) = try Self.generated(omitLogged: true)
        let (_, logged) = try Self.generated(omitLogged: false)
        let expected = try Self.answers(try dir.store("logged", devices, logged.flatMap { $0 }))
        let store = try dir.store("filled", devices, unlogged.flatMap { $0 })
        try store.refreshCoverageHours()
        let before = try Self.answers(store)
        #expect(before != expected, "without logged the skews come from the peers")
        let copy = try Ingester(store: store).ingest(bytes: logged.flatMap { $0 }, source: "copy")
        #expect(copy.storedMessages == 0)
        #expect(try Self.summaries(store).isEmpty)
        #expect(try Self.answers(store) == expected)
        try store.refreshCoverageHours()
        #expect(try Self.answers(store) == expected)
    }

    /// Prune deletes the summaries of the hours it cuts into (raw time kept from 10:30 on: 09:00
    /// and 10:00 go, 11:00 and later stay); what is left is sound and answers as from the messages.
    @Test func pruneDeletesTheHoursItCutsInto() throws {
        let dir = try Dir()
        let (devices, lines) = try Self.generated(omitLogged: true)
        let store = try dir.store("pruned", devices, lines.flatMap { $0 })
        try store.refreshCoverageHours()
        let hours = try Self.summaries(store)
        _ = try store.prune(try RetentionPolicy.parse("raw=1d"), now: Self.start + 90 * 60 * Self.s + 86_400 * Self.s)
        let left = try Self.summaries(store)
        #expect(left == Array(hours.dropFirst(2)) && !left.isEmpty, "\(left)")
        #expect(try store.check(full: true).isSound)
        let window = TimeWindow(from: Self.start + 2 * Self.hour, to: Self.start + 3 * Self.hour)
        let fromSummaries = try QueryEngine(store: store).coverage(QueryOptions(window: window))
        try store.pool.write { try $0.execute(sql: "DELETE FROM coverage_hours") }
        #expect(try QueryEngine(store: store).coverage(QueryOptions(window: window)) == fromSummaries)
    }

    /// Summaries of format 1 (written before issue 20's format 2, or by an older tailflow still
    /// running beside this one) are stale: questions read those hours' messages and answer the
    /// same, `check --full` counts them apart (the store is sound), and the next refresh writes
    /// every one of them again in format 2.
    @Test func anUpgradedStoreAnswersTheSame() throws {
        let dir = try Dir()
        let (devices, lines) = try Self.generated(omitLogged: false)
        let store = try dir.store("upgraded", devices, lines.flatMap { $0 })
        let expected = try Self.answers(store)
        try store.refreshCoverageHours()
        let hours = try Self.summaries(store)
        // As an older tailflow wrote them: the same summaries in format 1.
        var sizes = (one: 0, two: 0)
        try store.pool.write { db in
            for hour in hours {
                let blob = try #require(try Data.fetchOne(db, sql: "SELECT summary FROM coverage_hours WHERE hour = ?", arguments: [hour]))
                let summary = try blob.withUnsafeBytes { try CoverageHour.decode($0, hour: hour * Self.s) }
                let old = Self.formatOne(summary, hour: hour * Self.s)
                sizes.one += old.count
                sizes.two += blob.count
                try db.execute(sql: "UPDATE coverage_hours SET summary = ? WHERE hour = ?", arguments: [Data(old), hour])
            }
        }
        #expect(Double(sizes.two) < 0.6 * Double(sizes.one), "format 2: \(sizes.two) bytes, format 1: \(sizes.one)")
        #expect(try Self.answers(store) == expected)
        let stale = try store.check(full: true)
        #expect(stale.isSound && stale.coverageHoursChecked == 0 && stale.coverageHoursStale == hours.count, "\(stale)")
        #expect(try store.refreshCoverageHours() == hours.count)
        let current = try store.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM coverage_hours WHERE substr(summary, 1, 1) = x'02'") }
        #expect(current == hours.count)
        #expect(try Self.answers(store) == expected)
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == hours.count && report.coverageHoursStale == 0, "\(report.problems)")
    }

    /// Format 1 of a summary (schema/011, before issue 20): every time in nanoseconds from the one before.
    static func formatOne(_ c: CoverageHour, hour: Int64) -> [UInt8] {
        var out: [UInt8] = [1]
        func put(_ v: Int64) { RowCodec.putVarint(UInt64(bitPattern: v).zigzagged, &out) }
        put(Int64(c.reporters.count))
        var prevID: Int64 = 0
        for r in c.reporters {
            put(r.id &- prevID)
            prevID = r.id
            put(Int64(r.messages))
            put(Int64(r.windows.count))
            var cursor = hour
            for (s, e) in r.windows {
                put(s &- cursor)
                put(e &- s)
                cursor = e
            }
            put(Int64(r.offsets.count))
            var prev: Int64 = 0
            for o in r.offsets {
                put(o &- prev)
                prev = o
            }
        }
        put(Int64(c.sightings.count))
        var (pa, pb): (Int64, Int64) = (0, 0)
        for s in c.sightings {
            put(s.a &- pa)
            put(s.b &- pb)
            (pa, pb) = (s.a, s.b)
            RowCodec.putVarint(s.rest, &out)
            put(s.first)
            put(s.firstAt &- hour)
            put(s.second)
            if s.second != 0 { put(s.secondAt &- hour) }
        }
        return out
    }
}
