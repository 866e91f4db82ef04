import Foundation
import FlowGenerate
import FlowIngest
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// The hour summaries `ingest`'s writer builds while it stores the messages (``CoverageBuilds``)
/// are byte for byte those the refresh after the input reads from the store, whatever the order
/// of the input (in time, reversed, shuffled, node by node as per-node files, with a message
/// dated far ahead) and however often it commits; an hour that held messages before, or is met
/// again after its summary was written, is left to the refresh; another connection's commit
/// during the run stops the building.
@Suite(.ownThreads, .serialized)
struct CoverageBuildTests {
    typealias T = CoverageHoursTests

    /// Every summary row: hour (Unix seconds) → blob.
    static func rows(_ store: FlowStore) throws -> [Int64: [UInt8]] {
        try store.pool.read { db in
            var out: [Int64: [UInt8]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT hour, summary FROM coverage_hours") {
                out[row[0]] = [UInt8]((row[1] as Data?) ?? Data())
            }
            return out
        }
    }

    /// The lines in the orders tested.
    static func ordered(_ lines: [[UInt8]], _ order: String) -> [[UInt8]] {
        switch order {
        case "time": return lines
        case "reversed": return lines.reversed()
        case "shuffled":
            var rng = SplitMix(state: 20)
            return lines.shuffled(using: &rng)
        case "nearly in time":
            // Out of order by up to 300 lines (about a minute of this tailnet), as merged files are.
            var rng = SplitMix(state: 21)
            return stride(from: 0, to: lines.count, by: 300).flatMap { lines[$0..<min($0 + 300, lines.count)].shuffled(using: &rng) }
        case "by node":
            // As per-node files of the whole span, one after the other.
            func node(_ line: [UInt8]) -> String {
                guard let r = line.firstRange(of: Array("\"nodeId\":\"".utf8)) else { return "" }
                return String(decoding: line[r.upperBound...].prefix { $0 != UInt8(ascii: "\"") }, as: UTF8.self)
            }
            return lines.enumerated().sorted { (node($0.element), $0.offset) < (node($1.element), $1.offset) }.map(\.element)
        default:
            // One message dated a year ahead, first: every hour of the data is "settled" at once.
            let ahead = Array(String(decoding: lines[0], as: UTF8.self).replacingOccurrences(of: "2026-11-02", with: "2027-11-02").utf8)
            return [ahead] + lines
        }
    }

    /// A generated 3-hour tailnet of 6 nodes, one with a skewed clock (about 13,000 messages: the
    /// ingest below takes 7 batches, so its hours are written at several commits).
    static func generated() throws -> (devices: [NodeInfo], lines: [[UInt8]]) {
        var config = GeneratorConfig(start: T.start, duration: 3 * T.hour)
        config.nodes = 6
        config.seed = 20
        let plain = FlowLogGenerator(config)
        config.faults = [.clockSkew(node: plain.reportingNodeIDs[1], offset: 90 * T.s)]
        var bytes: [UInt8] = []
        _ = try FlowLogGenerator(config).write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
        let lines = bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) + [UInt8(ascii: "\n")] }
        return (try DeviceList.parse(plain.deviceList(), source: "devices"), lines)
    }

    /// The summary the refresh writes for `hour` (Unix seconds) of `store`: read from its messages.
    static func refreshed(_ store: FlowStore, _ hour: Int64) throws -> [UInt8] {
        try store.pool.read { try SQLiteSnapshot($0).summarizeHour(hour * T.s).encode(hour: hour * T.s) }
    }

    @Test(arguments: ["time", "reversed", "nearly in time", "shuffled", "by node", "ahead"])
    func builtSummariesEqualTheRefreshs(order: String) throws {
        let dir = try T.Dir()
        let (devices, plain) = try Self.generated()
        let lines = Self.ordered(plain, order).flatMap { $0 }
        // Small commits: hours are written at commits as the data leaves them, and met again.
        let store = try dir.store("built", devices, building: true, rowsPerCommit: 3_000, lines)
        let hours = try T.hoursWithMessages(store)
        let built = try Self.rows(store)
        switch order {
        default:
            // Shuffled, or node after node in batches of 2,048 messages (each of which spans most
            // of the three hours): every batch adds to nearly every hour, so they stay built until
            // the last commit; an hour of a few messages (the skewed clock's last minute) may be
            // missed by a batch, written, met again and left to the refresh.
            #expect(built.count >= hours.count - 1, "\(built.count) of \(hours.count)")
        }
        // What was built is what the refresh makes of the same store's messages (address and
        // node ids are the store's own, so the comparison is within one store).
        for (hour, blob) in built {
            #expect(try Self.refreshed(store, hour) == blob, "hour \(hour) built unlike the refresh (\(order))")
        }
        // The hours left are summarized by the refresh; the store is sound.
        #expect(try store.refreshCoverageHours() == hours.count - built.count)
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == hours.count, "\(report.problems)")
    }

    /// In one run, each stretch of messages without `logged` followed by the same messages with it
    /// (a later copy fills `logged` in: the hours being built are left to the refresh), then all of
    /// it again, shuffled (duplicates change nothing): every summary, built or refreshed, is the
    /// one read back from the store.
    @Test func aLaterCopyWithLoggedLeavesTheHour() throws {
        let dir = try T.Dir()
        let (devices, logged) = try Self.generated()
        let unlogged = logged.map { line in
            var text = String(decoding: line, as: UTF8.self)
            if let r = text.range(of: #","logged":"[^"]*""#, options: .regularExpression) { text.removeSubrange(r) }
            return Array(text.utf8)
        }
        #expect(unlogged != logged)
        var lines: [[UInt8]] = []
        // The copies with `logged` of the last hour only: its hour is met again while being built.
        let lastHour = Array("\"start\":\"2026-11-02T11:".utf8)
        for i in stride(from: 0, to: logged.count, by: 200) {
            let block = i..<min(i + 200, logged.count)
            lines += unlogged[block]
            lines += logged[block].filter { $0.firstRange(of: lastHour) != nil }
        }
        var rng = SplitMix(state: 22)
        let repeated = lines + lines.shuffled(using: &rng)
        let store = try dir.store("filled", devices, building: true, rowsPerCommit: 3_000, repeated.flatMap { $0 })
        let hours = try T.hoursWithMessages(store)
        let built = try Self.rows(store)
        #expect(built.count == hours.count - 1, "the hour met again with logged is left: \(built.count) of \(hours.count)")
        #expect(built[(T.start + 2 * T.hour) / T.s] == nil)
        for (hour, blob) in built {
            #expect(try Self.refreshed(store, hour) == blob, "hour \(hour) built unlike the refresh")
        }
        #expect(try store.refreshCoverageHours() == 1)
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == hours.count, "\(report.problems)")
    }

    /// However the input runs, at most ``FlowWriter/coverageMaxBuilding`` hours are built at once:
    /// backwards in time, each hour is written once a batch no longer adds to it; shuffled over
    /// more hours than the cap, the hours beyond it are left to the refresh; node after node, each
    /// hour is written after the first node's batches left it, met again and left to the refresh.
    @Test(arguments: ["reversed", "shuffled", "by node"])
    func theHoursBuiltAtOnceAreBounded(order: String) throws {
        let dir = try T.Dir()
        let bytes = try Self.fortyHours(seed: 23)
        var lines = bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) + [UInt8(ascii: "\n")] }
        var rng = SplitMix(state: 24)
        lines = order == "shuffled" ? lines.shuffled(using: &rng) : order == "reversed" ? lines.reversed() : Self.ordered(lines, order)
        let store = try FlowStore(path: dir.url.appendingPathComponent("bounded.db").path)
        let messages = try DecodedBody(bytes: lines.flatMap { $0 }, source: "b").messages
        let most = try Self.build(stride(from: 0, to: messages.count, by: 100).map { messages[$0..<min($0 + 100, messages.count)] }, into: store)
        let hours = try T.hoursWithMessages(store)
        #expect(hours.count >= 40)
        #expect(most <= FlowWriter.coverageMaxBuilding)
        let built = try Self.rows(store)
        switch order {
        case "reversed":
            // A batch (50 minutes) spans two hours; the hour before it is written at its commit.
            #expect(most <= 3, "backwards in time: \(most) hours built at once")
            #expect(built.count == hours.count, "\(built.count) of \(hours.count)")
        case "shuffled":
            // Built up to the cap (a batch of 100 messages meets most of the hours: built ones it
            // misses are written, then met again and left).
            #expect(most == FlowWriter.coverageMaxBuilding, "\(most) hours built at once")
            #expect(built.count <= FlowWriter.coverageMaxBuilding, "\(built.count) of \(hours.count)")
        default:
            // A batch of one node (100 minutes) spans three hours; the one before is written at its commit.
            #expect(most <= 4 && most >= 2, "node after node: \(most) hours built at once")
            #expect(built.isEmpty, "every hour is met again by the second node: \(built.count) of \(hours.count)")
        }
        for (hour, blob) in built {
            #expect(try Self.refreshed(store, hour) == blob)
        }
        #expect(try store.refreshCoverageHours() == hours.count - built.count)
        #expect(try store.check(full: true).isSound)
    }

    /// A batch spanning more hours than the cap, in time order (a sparse tailnet's 500,000 rows span
    /// days): each hour met beyond the cap finishes the one added to least recently, so every hour
    /// is built, and its summary is the refresh's. (Before, the hours past the first 24 of a batch
    /// were left to the refresh, a serial pass after the input.)
    @Test func aBatchOverMoreHoursThanTheCapBuildsThemAll() throws {
        let dir = try T.Dir()
        let bytes = try Self.fortyHours(seed: 25)
        let store = try FlowStore(path: dir.url.appendingPathComponent("wide.db").path)
        let messages = try DecodedBody(bytes: bytes, source: "w").messages
        // Two batches of about 20 hours each, cut half an hour into the 21st, which the second
        // batch goes on building.
        let cut = messages.count / 2 + 60
        let most = try Self.build([messages[..<cut], messages[cut...]], into: store)
        let hours = try T.hoursWithMessages(store)
        #expect(hours.count >= 40)
        #expect(most == FlowWriter.coverageMaxBuilding, "\(most) hours built at once")
        let built = try Self.rows(store)
        #expect(built.count == hours.count, "\(built.count) of \(hours.count)")
        for (hour, blob) in built {
            #expect(try Self.refreshed(store, hour) == blob, "hour \(hour) built unlike the refresh")
        }
        #expect(try store.refreshCoverageHours() == 0)
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == hours.count, "\(report.problems)")
    }

    /// Two nodes over 40 hours, a message a minute each, in time order (JSON Lines): more hours
    /// than ``FlowWriter/coverageMaxBuilding``.
    static func fortyHours(seed: UInt64) throws -> [UInt8] {
        var config = GeneratorConfig(start: T.start, duration: 40 * T.hour)
        config.nodes = 2
        config.interval = 60 * T.s
        config.seed = seed
        var bytes: [UInt8] = []
        _ = try FlowLogGenerator(config).write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Stores the batches with the writer building summaries; returns the most hours built at once.
    static func build(_ batches: [ArraySlice<FlowMessage>], into store: FlowStore) throws -> Int {
        var most = 0
        try store.write(durability: .normal) { w in
            let writer = w as! FlowWriter
            writer.coverageBuilds.on = true
            for batch in batches {
                try writer.begin()
                for m in batch {
                    _ = try writer.add(m)
                    most = max(most, writer.coverageBuilds.active.count)
                }
                try writer.commit()
            }
            writer.finishCoverageBuilds()
        }
        return most
    }

    /// Hours that held messages before the run are not built (their summary goes, as before);
    /// hours new to the store are.
    @Test func hoursHeldBeforeAreLeftToTheRefresh() throws {
        let dir = try T.Dir()
        let (devices, lines) = try Self.generated()
        let firstHour = Array("\"start\":\"2026-11-02T09:".utf8)
        var first: [UInt8] = [], rest: [UInt8] = [], late: [UInt8] = []
        for (i, line) in lines.enumerated() {
            if line.firstRange(of: firstHour) != nil {
                if i % 3 == 0 { late += line } else { first += line }
            } else {
                rest += line
            }
        }
        let store = try dir.store("held", devices, building: true, first)
        let nine = T.start / T.s
        #expect(try T.summaries(store) == [nine])
        _ = try { let i = Ingester(store: store); i.policy.buildsCoverage = true; return try i.ingest(bytes: late + rest, source: "rest") }()
        let built = try T.summaries(store)
        #expect(!built.contains(nine), "the hour held messages before: its summary is the refresh's to make")
        #expect(built.count == (try T.hoursWithMessages(store)).count - 1)
        #expect(try store.refreshCoverageHours() == 1)
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == built.count + 1, "\(report.problems)")
    }

    /// Another connection storing messages in an hour being built, between two of the run's
    /// commits: the run stops building (its summary would miss those messages).
    @Test func anotherWritersCommitStopsTheBuilding() async throws {
        let dir = try T.Dir()
        let (devices, lines) = try Self.generated()
        let messages = try DecodedBody(bytes: lines.flatMap { $0 }, source: "g").messages
        let hour = T.start + T.hour
        let inHour = messages.filter { $0.start >= hour && $0.start < hour + T.hour }
        #expect(inHour.count > 30)
        let path = dir.url.appendingPathComponent("shared.db").path
        let store = try FlowStore(path: path)
        try store.importNodes(devices, at: T.start)
        let other = try FlowStore(path: path)
        let pipeline = WritePipeline(store: store, policy: .ingest)
        // Committed before the other writer's.
        _ = try await pipeline.submit(inHour.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
        _ = try await offThePool {
            try other.write(durability: .normal) { writer in
                try writer.begin()
                for m in inHour.enumerated().filter({ $0.offset % 3 == 1 }).map(\.element) { _ = try writer.add(m) }
                try writer.commit()
            }
        }
        _ = try await pipeline.submit(inHour.enumerated().filter { $0.offset % 3 == 2 }.map(\.element))
        try pipeline.finish()
        #expect(try T.summaries(store).isEmpty, "nothing built is written once another connection committed")
        #expect(try store.refreshCoverageHours() == 1)
        let report = try store.check(full: true)
        #expect(report.isSound && report.coverageHoursChecked == 1, "\(report.problems)")

        // The same without the other writer: the hour is built and written at the last commit.
        let alone = try FlowStore(path: dir.url.appendingPathComponent("alone.db").path)
        try alone.importNodes(devices, at: T.start)
        let solo = WritePipeline(store: alone, policy: .ingest)
        _ = try await solo.submit(inHour.enumerated().filter { $0.offset % 3 != 1 }.map(\.element))
        _ = try await solo.submit(inHour.enumerated().filter { $0.offset % 3 == 1 }.map(\.element))
        try solo.finish()
        #expect(try T.summaries(alone) == [hour / T.s])
        #expect(try alone.check(full: true).isSound)
    }
}
