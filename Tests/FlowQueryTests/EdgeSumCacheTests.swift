import Foundation
import FlowGenerate
import FlowIngest
import FlowModel
@testable import FlowQuery
import FlowStore
import GRDB
import MemoryStore
import Testing
import TestSupport

/// `edge_sums` (schema/010) answers `top` over long buckets; it must never change an answer:
/// not when it is fresh, not after new traffic lands in a bucket it holds, not after the
/// directory changes under it. The memory store keeps no edge sums: it is the long way.
@Suite(.ownThreads, .serialized)
struct EdgeSumCacheTests {
    final class Fixture: @unchecked Sendable {
        let dir: URL
        let store: FlowStore
        let memory = MemoryStore()
        let start = Timestamp.parseRFC3339("2026-10-30T18:00:00Z")!
        let devices: [NodeInfo]
        let late: [UInt8]

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-edgesums-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            store = try FlowStore(path: dir.appendingPathComponent("e.db").path)
            // Five days and a bit: day, 2-day and 4-day buckets, ragged ends.
            var config = GeneratorConfig(start: start, duration: 5 * 86_400 * 1_000_000_000 + 7 * 3_600_000_000_000)
            config.nodes = 10
            config.rate = 0.02
            config.seed = 11
            let generator = FlowLogGenerator(config)
            var bytes: [UInt8] = []
            _ = try generator.write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
            // Keep one message in 40 (a sparse tailnet) and hold back one day's worth of the rest for later.
            let lines = bytes.split(separator: UInt8(ascii: "\n"))
            var now: [UInt8] = [], later: [UInt8] = []
            for (i, line) in lines.enumerated() where i % 40 == 0 {
                if i % 80 == 0 || !String(decoding: line.prefix(200), as: UTF8.self).contains("2026-11-01T") {
                    now += line + [UInt8(ascii: "\n")]
                } else {
                    later += line + [UInt8(ascii: "\n")]
                }
            }
            late = later
            devices = try DeviceList.parse(generator.deviceList(), source: "devices")
            for s in [store, memory] as [any FlowStorage] {
                try s.importNodes(devices.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), at: start)
                let summary = try Ingester(store: s).ingest(bytes: now, source: "generated")
                precondition(summary.rejected == 0 && summary.storedRows > 1000)
            }
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    /// Random windows over the data, whole days among them (those the edge sums serve).
    static func windows(_ f: Fixture, _ rng: inout SplitMix) -> [QueryOptions] {
        let day = 86_400 * Timestamp.nanosPerSecond
        let midnight = Timestamp.bucketStart(f.start, step: day) + day
        var out = [QueryOptions(window: TimeWindow(from: midnight, to: midnight + 4 * day)),
                   QueryOptions(window: TimeWindow(from: f.start, to: f.start + 6 * day))]
        for _ in 0..<6 {
            let a = f.start + Int64.random(in: 0..<(3 * day), using: &rng)
            var o = QueryOptions(window: TimeWindow(from: a, to: a + Int64.random(in: day..<(3 * day), using: &rng)))
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: o.kinds = [.physical]
            case 1: o.kinds = [.exit, .subnet]
            case 2: o.tag = "tag:prod"
            case 3: o.proto = 6
            default: break
            }
            out.append(o)
        }
        return out
    }

    static func expectSameAnswers(_ f: Fixture, _ seed: UInt64, _ what: String) throws {
        var rng = SplitMix(state: seed)
        let sqlite = QueryEngine(store: f.store), memory = QueryEngine(store: f.memory)
        for o in windows(f, &rng) {
            for metric in [Metric.bytes, .packets] {
                #expect(try sqlite.topEndpoints(o, metric: metric, limit: .max) == memory.topEndpoints(o, metric: metric, limit: .max),
                        "\(what): endpoints, window \(o.window) kinds \(o.kinds) tag \(o.tag ?? "-")")
                #expect(try sqlite.topPairs(o, metric: metric, limit: .max) == memory.topPairs(o, metric: metric, limit: .max),
                        "\(what): pairs, window \(o.window) kinds \(o.kinds) tag \(o.tag ?? "-")")
            }
            var e = o
            e.endpoint = try f.store.nodes().first(where: { $0.isReporter })?.nodeID
            #expect(try sqlite.topEndpoints(e, limit: .max) == memory.topEndpoints(e, limit: .max), "\(what): one endpoint's peers")
        }
    }

    func rows(_ f: Fixture) throws -> [String: Int64] {
        try f.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT step, bucket, resolution FROM edge_sums").reduce(into: [:]) { out, row in
                out["\(row[0] as Int64)/\(row[1] as Int64)"] = row[2]
            }
        }
    }

    @Test func edgeSumsNeverChangeAnAnswer() throws {
        let f = try Fixture()
        // None yet: the rollups answer.
        #expect(try rows(f).isEmpty)
        try Self.expectSameAnswers(f, 1, "no edge sums")

        // Counted: every bucket of a day or more has its row, and the answers stay.
        let stored = try EdgeSumCache.refresh(f.store)
        let fresh = try rows(f)
        #expect(stored > 0 && fresh.count == stored)
        let coarse = try f.store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT DISTINCT step, bucket FROM rollups WHERE step >= 86400)")!
        }
        #expect(fresh.count == coarse)
        #expect(try EdgeSumCache.refresh(f.store) == 0, "nothing left to count")
        try Self.expectSameAnswers(f, 2, "fresh edge sums")

        // They are read: a bucket's row is what serves it (a row made wrong on purpose shows).
        let day = 86_400 * Timestamp.nanosPerSecond
        let midnight = Timestamp.bucketStart(f.start, step: day) + day
        let o = QueryOptions(window: TimeWindow(from: midnight, to: midnight + day))
        let right = try QueryEngine(store: f.store).topEndpoints(o, limit: .max)
        try f.store.pool.write { db in
            try db.execute(sql: "UPDATE edge_sums SET sums = X'01' WHERE step = 86400 AND bucket = ?", arguments: [midnight / Timestamp.nanosPerSecond])
        }
        #expect(try QueryEngine(store: f.store).topEndpoints(o, limit: .max).isEmpty)
        try f.store.pool.write { db in try db.execute(sql: "DELETE FROM edge_sums") }
        #expect(try QueryEngine(store: f.store).topEndpoints(o, limit: .max) == right)
        try EdgeSumCache.refresh(f.store)

        // Late traffic for one day: the rows of the buckets holding it go (triggers), the rest stay.
        for s in [f.store, f.memory] as [any FlowStorage] {
            let summary = try Ingester(store: s).ingest(bytes: f.late, source: "late")
            #expect(summary.storedMessages > 0)
        }
        let after = try rows(f)
        #expect(after.count < fresh.count)
        #expect(after.keys.allSatisfy { fresh[$0] != nil })
        try Self.expectSameAnswers(f, 3, "after late traffic")
        try EdgeSumCache.refresh(f.store)
        #expect(try rows(f).count == fresh.count)
        try Self.expectSameAnswers(f, 4, "recounted")

        // A device list naming a node for addresses that were bare: new owners, so every row is
        // from another resolution (the rest of the device list too, whatever it changes).
        let bare = try f.store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT ip FROM addresses WHERE id NOT IN (SELECT address FROM node_addresses) ORDER BY id LIMIT 3")
        }
        #expect(!bare.isEmpty)
        let newcomer = NodeInfo(nodeID: "nNewcomer1CNTRL", name: "newcomer.tail640b.ts.net", addresses: bare.compactMap(IPAddress.init))
        for s in [f.store, f.memory] as [any FlowStorage] {
            try s.importNodes(f.devices.enumerated().filter { $0.offset % 2 == 1 }.map(\.element) + [newcomer], at: f.start + 1)
        }
        try Self.expectSameAnswers(f, 5, "after a device import")
        #expect(try EdgeSumCache.refresh(f.store) == fresh.count)
        #expect(Set(try rows(f).values).count == 1)
        try Self.expectSameAnswers(f, 6, "recounted after a device import")
    }
}
