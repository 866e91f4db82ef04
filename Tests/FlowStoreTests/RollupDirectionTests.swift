import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// Rollup sums keep which end held the service port; `schema/007` rebuilds older sums from the raw rows.
@Suite(.ownThreads)
struct RollupDirectionTests {
    /// Messages whose rows go both ways: clients to port 443, 443 answering, and equal ports.
    static let messages: [FlowMessage] = (0..<900).map { i in
        var m = Make.message(node: i % 5 + 1, at: Int64(i * 197), rows: i % 4 + 1, bytes: Int64(i % 50 + 1))
        for r in m.rows.indices {
            if (i + r) % 3 == 1 { (m.rows[r].srcPort, m.rows[r].dstPort) = (m.rows[r].dstPort, m.rows[r].srcPort) }
            if (i + r) % 7 == 0 { (m.rows[r].srcPort, m.rows[r].dstPort) = (41641, 41641) }
        }
        return m
    }

    static func store(_ path: String, _ messages: [FlowMessage]) throws -> FlowStore {
        let store = try FlowStore(path: path)
        try store.withWriter { w in
            for chunk in stride(from: 0, to: messages.count, by: 50) {
                try w.begin()
                for m in messages[chunk..<min(chunk + 50, messages.count)] { try w.add(m) }
                try w.commit()
            }
        }
        return store
    }

    /// Every bucket's entries, its parts merged: "step reporter bucket" to sorted entries.
    static func buckets(_ db: Database) throws -> [String: [RollupEntry]] {
        var out: [String: [RollupEntry]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT step, reporter, bucket, sums FROM rollups ORDER BY step, reporter, bucket, part") {
            let key = "\(row[0] as Int64) \(row[1] as Int64) \(row[2] as Int64)"
            out[key] = FlowWriter.merge(out[key] ?? [], try RollupCodec.decode(Array(row[3] as Data)))
        }
        return out
    }

    @Test func theWriterKeepsTheSideOfEachRow() throws {
        let dir = TempDir()
        let store = try Self.store(dir.path("a.db"), Self.messages)
        try store.pool.read { db in
            var sides: [ServiceSide: Int64] = [:]
            for (_, entries) in try Self.buckets(db) { for e in entries { sides[e.side, default: 0] += e.counters.txBytes } }
            var want: [ServiceSide: Int64] = [:]
            for m in Self.messages { for r in m.rows { want[FlowRow.serviceSide(r.srcPort, r.dstPort), default: 0] += r.txBytes * 7 } }
            #expect(sides == want, "every level holds each row once, under its side")
            #expect(sides[.unknown] == nil && sides[.src, default: 0] > 0 && sides[.dst, default: 0] > 0 && sides[.neither, default: 0] > 0)
        }
    }

    /// A store written before 007 (sides unrecorded), some of its raw rows pruned: the buckets
    /// whose raw rows are all there become what a new store holds, the others stay as they were.
    @Test func theMigrationRebuildsFromRawRowsAndKeepsWhatItCannot() throws {
        let dir = TempDir()
        let fresh = try Self.store(dir.path("fresh.db"), Self.messages)
        let path = dir.path("old.db")
        _ = try Self.store(path, Self.messages)
        // Make it an old store: entries without side (equal keys merged), 007 not applied; then prune
        // node 2's raw rows before t0 + 30,000 s.
        let queue = try DatabaseQueue(path: path)
        let pruneBefore = Make.t0 + 30_000 * 1_000_000_000
        var prunedStarts: [Int64] = []
        let old: [String: [RollupEntry]] = try queue.write { db in
            for row in try Row.fetchAll(db, sql: "SELECT step, reporter, bucket, part, sums FROM rollups") {
                var merged: [RollupEntry] = []
                for var e in try RollupCodec.decode(Array(row[4] as Data)) {
                    e.side = .unknown
                    merged = FlowWriter.merge(merged, [e])
                }
                var blob: [UInt8] = []
                RollupCodec.encode(merged, into: &blob)
                try db.execute(sql: "UPDATE rollups SET sums = ?, entries = ? WHERE step = ? AND reporter = ? AND bucket = ? AND part = ?",
                               arguments: [Data(blob), merged.count, row[0] as Int64, row[1] as Int64, row[2] as Int64, row[3] as Int64])
            }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = ?", arguments: [RollupRebuild.migration])
            try db.execute(sql: "DROP TABLE derp_regions; ALTER TABLE nodes DROP COLUMN routes")
            let n2 = try Int64.fetchOne(db, sql: "SELECT id FROM nodes WHERE stable_id = 'n2'")!
            prunedStarts = try FlowStore.storedMessages(db, to: pruneBefore).filter { $0.reporter == n2 }.map(\.start)
            try FlowStore.rewriteStoredMessages(db) { $0.reporter == n2 && $0.start < pruneBefore ? nil : $0 }
            return try Self.buckets(db)
        }
        try queue.close()
        #expect(prunedStarts.count > 10)
        // A question refuses the old store; a writer upgrades it.
        #expect(throws: StoreError.self) { try FlowStore(path: path, access: .readOnly) }
        let upgraded = try FlowStore(path: path)
        #expect(try upgraded.schemaVersion().contains(RollupRebuild.migration))
        let want = try fresh.pool.read { try Self.buckets($0) }
        let got = try upgraded.pool.read { try Self.buckets($0) }
        let n2 = try upgraded.pool.read { try Int64.fetchOne($0, sql: "SELECT id FROM nodes WHERE stable_id = 'n2'")! }
        #expect(got.keys.sorted() == want.keys.sorted())
        var kept = 0, rebuilt = 0
        for (key, entries) in got {
            let parts = key.split(separator: " ").map { Int64($0)! }
            let (step, reporter, bucket) = (parts[0], parts[1], parts[2])
            let touched = reporter == n2 && prunedStarts.contains { $0 / 1_000_000_000 >= bucket && $0 / 1_000_000_000 < bucket + step }
            if touched {
                #expect(entries == old[key], "\(key): its raw rows are gone, so it keeps its sums")
                kept += 1
            } else {
                #expect(entries == want[key], "\(key): rebuilt as a new store writes it")
                rebuilt += 1
            }
        }
        #expect(kept > 10 && rebuilt > 100)
        // Applied once: opening again changes nothing.
        let again = try FlowStore(path: path)
        #expect(try again.pool.read { try Self.buckets($0) } == got)
    }
}
