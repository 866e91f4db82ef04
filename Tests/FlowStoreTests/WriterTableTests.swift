import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// The writer's own hash tables (``MixTable``) and what the writer sets on its connection.
@Suite(.ownThreads)
struct WriterTableTests {
    /// Sums keyed like the minute rollups, through many growths, equal a `Dictionary`'s,
    /// and every key is found again at its index; `removeAll` empties the table for reuse.
    @Test func mixTableSumsLikeADictionary() throws {
        var rng = SystemRandomNumberGenerator()
        var table = MixTable<RollupKey, Counters>()
        var oracle: [RollupKey: Counters] = [:]
        for round in 0..<2 {
            for _ in 0..<20_000 {
                // Few distinct values per field: many repeats, keys that differ in one field only.
                let key = RollupKey(bucket: Int64.random(in: -3...3, using: &rng) * 60, reporter: Int64.random(in: 1...4, using: &rng),
                                    src: Int64.random(in: 0...30, using: &rng), dst: Int64.random(in: 0...30, using: &rng),
                                    kind: UInt8.random(in: 0...3, using: &rng), proto: [0, 6, 17][Int.random(in: 0...2, using: &rng)],
                                    port: UInt16.random(in: 0...3, using: &rng), side: [.neither, .src, .dst][Int.random(in: 0...2, using: &rng)])
                let c = Counters(txPackets: 1, txBytes: Int64.random(in: 0...1000, using: &rng), rxPackets: 2, rxBytes: 3)
                table.update(key, default: Counters()) { $0.add(c) }
                oracle[key, default: Counters()].add(c)
            }
            #expect(table.count == oracle.count && table.count > 1000)
            for i in table.indices {
                #expect(oracle[table.keys[i]] == table.values[i])
                #expect(table.index(of: table.keys[i]) == i)
            }
            #expect(table[RollupKey(bucket: 7, reporter: 99, src: 0, dst: 0, kind: 0, proto: 0, port: 0, side: .neither)] == nil)
            if round == 0 {
                table.removeAll()
                oracle.removeAll()
                #expect(table.isEmpty && table.index(of: RollupKey(bucket: 0, reporter: 1, src: 0, dst: 0, kind: 0, proto: 0, port: 0, side: .neither)) == nil)
            }
        }
    }

    /// IPv4 and IPv6 addresses with the same bits are different keys.
    @Test func mixTableTellsAddressFamiliesApart() throws {
        var table = MixTable<IPAddress, Int64>()
        table.insertNew(IPAddress(ipv4: 1), 1)
        table.insertNew(IPAddress(ipv6High: 0, low: 1), 2)
        for i in 0..<5000 { table.insertNew(IPAddress(ipv4: UInt32(100 + i)), Int64(10 + i)) }
        #expect(table[IPAddress(ipv4: 1)] == 1 && table[IPAddress(ipv6High: 0, low: 1)] == 2)
        #expect(table[IPAddress(ipv4: 4099)] == 4009 && table[IPAddress(ipv4: 99)] == nil)
    }

    /// Node IDs are compared as SQLite compares them, byte by byte: two canonically equivalent
    /// spellings (`String`'s `==` takes them as equal) are two nodes, whatever slots they hash to.
    @Test func nodeIDsAreKeysByTheirBytes() throws {
        let composed = FlowWriter.NodeKey("n\u{e9}CNTRL"), decomposed = FlowWriter.NodeKey("ne\u{301}CNTRL")
        #expect(composed.id == decomposed.id)  // Swift's String equality
        #expect(composed != decomposed)
        var table = MixTable<FlowWriter.NodeKey, Int64>()
        table.insertNew(composed, 1)
        for i in 0..<3000 { table.insertNew(FlowWriter.NodeKey("n\(i)CNTRL"), Int64(10 + i)) }
        #expect(table[decomposed] == nil)
        table.insertNew(decomposed, 2)
        #expect(table[composed] == 1 && table[decomposed] == 2 && table.count == 3002)
    }

    /// Keys with parts a sender chooses (addresses, node IDs, times, ports, protocols) hash from the
    /// table's random seed, so nobody can work out keys that share a slot chain beforehand.
    @Test func keysFromInputHashFromTheSeed() throws {
        let rollup = RollupKey(bucket: 60, reporter: 1, src: 2, dst: 3, kind: 0, proto: 6, port: 443, side: .dst)
        let conversation = CoverageHour.ConversationKey(a: 2, b: 3, rest: 443 << 8 | 6)
        let bucket = FlowWriter.BucketKey(reporter: 1, bucket: 60)
        let node = FlowWriter.NodeKey("nKq3vX1CNTRL")
        let address = IPAddress(ipv4: 0x6465_010A)
        for (a, b) in [(1, 2), (0x5555, 0xAAAA_0000_0000)] as [(UInt64, UInt64)] {
            #expect(rollup.mixedHash(seed: a) != rollup.mixedHash(seed: b))
            #expect(conversation.mixedHash(seed: a) != conversation.mixedHash(seed: b))
            #expect(bucket.mixedHash(seed: a) != bucket.mixedHash(seed: b))
            #expect(node.mixedHash(seed: a) != node.mixedHash(seed: b))
            #expect(address.mixedHash(seed: a) != address.mixedHash(seed: b))
        }
    }

    /// The writer turns SQLite's foreign key checks off for its batches only: the connection
    /// has them on again afterwards, for whatever else runs on it.
    @Test func foreignKeyChecksAreBackOnAfterTheWriter() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        try store.withWriter { w in
            #expect(try Int.fetchOne(w.db, sql: "PRAGMA foreign_keys") == 0)
            try w.begin()
            try w.add(Make.message(node: 1, at: 0))
            try w.commit()
        }
        let after = try store.pool.writeWithoutTransaction { (db: Database) throws -> Int? in try Int.fetchOne(db, sql: "PRAGMA foreign_keys") }
        #expect(after == 1)
    }
}
