import Foundation
import FlowModel
import FlowSchema
@testable import FlowStore
import GRDB
import Testing
import TestSupport

@Suite(.ownThreads)
struct FlowStoreTests {
    @Test func createsWALStoreWithTheSchemaRecorded() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        #expect(try store.schemaVersion() == Schema.migrations.map(\.name))
        let (mode, page) = try store.pool.read { (db: Database) throws in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode")!, try Int.fetchOne(db, sql: "PRAGMA page_size")!)
        }
        #expect(mode == "wal")
        #expect(page == FlowStore.pageSize)
        // Opening again is a no-op.
        _ = try FlowStore(path: dir.path("a.db"))
    }

    /// Issue 20: new stores have 16 KiB pages (smaller files: see `FlowStore.pageSize`); a store
    /// made with 8 KiB pages keeps them, and the server's writer counts its log bound (256 MiB)
    /// in the store's own pages either way.
    @Test func newStoresHave16KiBPagesAndOlderOnesKeepTheirs() throws {
        let dir = TempDir()
        // A store of an older tailflow: its page size fixed before the first table.
        let old = try DatabaseQueue(path: dir.path("old.db"))
        try old.writeWithoutTransaction { try $0.execute(sql: "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL") }
        try old.close()
        for (file, page) in [("new.db", 16384), ("old.db", 8192)] {
            let store = try FlowStore(path: dir.path(file))
            let full = try store.withWriter(durability: .full) { w in try Int.fetchOne(w.db, sql: "PRAGMA wal_autocheckpoint") }
            #expect(try store.pool.read { try Int.fetchOne($0, sql: "PRAGMA page_size") } == page, "\(file)")
            #expect(full == (256 << 20) / page, "\(file)")
        }
    }

    @Test func everySchemaFileIsAMigration() throws {
        let schemaDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: schemaDir.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == Schema.migrations.map(\.name))
        for (file, migration) in zip(files, Schema.migrations) {
            #expect(try String(contentsOf: schemaDir.appendingPathComponent(file), encoding: .utf8) == migration.sql)
        }
        let clickhouseDir = schemaDir.appendingPathComponent("clickhouse")
        let clickhouseFiles = try FileManager.default.contentsOfDirectory(atPath: clickhouseDir.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(clickhouseFiles.map { String($0.dropLast(4)) } == Schema.clickhouseMigrations.map(\.name))
        for (file, migration) in zip(clickhouseFiles, Schema.clickhouseMigrations) {
            #expect(try String(contentsOf: clickhouseDir.appendingPathComponent(file), encoding: .utf8) == migration.sql)
        }
    }

    @Test func refusesANewerSchema() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        try store.pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('999_from_the_future')") }
        #expect {
            _ = try FlowStore(path: dir.path("a.db"))
        } throws: { error in
            (error as? StoreError)?.code == .schemaTooNew && "\(error)".contains("999_from_the_future")
        }
    }

    @Test func refusesForeignFiles() throws {
        let dir = TempDir()
        let other = try DatabaseQueue(path: dir.path("other.db"))
        try other.write { try $0.execute(sql: "CREATE TABLE customers (id INTEGER)") }
        #expect { _ = try FlowStore(path: dir.path("other.db")) } throws: { ($0 as? StoreError)?.code == .notATailflowStore }
        #expect(FileManager.default.createFile(atPath: dir.path("junk.db"), contents: Data(repeating: 0x41, count: 8192)))
        #expect { _ = try FlowStore(path: dir.path("junk.db")) } throws: { ($0 as? StoreError)?.code == .notATailflowStore }
    }

    /// Up to 19 rows with values at the edges of each field's range; `rxBytes` fixed, or random when nil.
    static func randomRows(_ rng: inout SystemRandomNumberGenerator, rxBytes: Int64? = nil) -> [StoredRow] {
        (0..<Int.random(in: 0..<20, using: &rng)).map { _ in
            StoredRow(kind: TrafficKind(rawValue: UInt8.random(in: 0...3, using: &rng))!,
                      proto: [0, 1, 6, 17, 58, 132, 255].randomElement(using: &rng)!,
                      src: Int64.random(in: 0...3, using: &rng), srcPort: UInt16.random(in: 0...UInt16.max, using: &rng),
                      dst: [0, 1, Int64.max].randomElement(using: &rng)!, dstPort: UInt16.random(in: 0...3, using: &rng),
                      txPackets: Int64.random(in: 0...Int64.max, using: &rng), txBytes: Int64.random(in: 0...300, using: &rng),
                      rxPackets: 0, rxBytes: rxBytes ?? Int64.random(in: 0...Int64.max, using: &rng))
        }
    }

    @Test func rowCodecRoundTrips() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let rows = Self.randomRows(&rng, rxBytes: Int64.max)
            var blob: [UInt8] = []
            RowCodec.encode(rows, into: &blob)
            #expect(try RowCodec.decode(blob) == rows)
        }
        #expect(throws: StoreError.self) { try RowCodec.decode([1, 0x80]) }
        #expect(throws: StoreError.self) { try RowCodec.decode([9]) }
    }

    /// Rows whose every field takes its longest encoding fill the room the encoder makes for a
    /// row (``RowCodec/maxRowBytes``, written through a pointer), and round-trip; so do many
    /// of them (the room then comes from the heap, not the stack).
    @Test func theLongestRowsFitTheirRoom() throws {
        func longest(_ i: Int) -> StoredRow {
            // Ids alternate, so that none repeats the previous row's and is left out.
            StoredRow(kind: .physical, proto: 255, src: Int64.max - Int64(i % 2), srcPort: .max, dst: Int64.max - Int64(i % 2), dstPort: .max,
                      txPackets: .max, txBytes: .max, rxPackets: .max, rxBytes: .max)
        }
        for count in [1, 14, 15, 200] {
            let rows = (0..<count).map(longest)
            var blob: [UInt8] = [7, 7]  // appended to, not cleared
            RowCodec.encode(rows, into: &blob)
            // A flag byte, the protocol in 2 bytes, ids of 9 bytes (63 bits), ports of 3, counters of 9.
            #expect(blob.count == 2 + 1 + count * (1 + 2 + 9 + 3 + 9 + 3 + 4 * 9))
            #expect(blob[0..<2] == [7, 7])
            #expect(try RowCodec.decode(Array(blob[2...])) == rows)
        }
    }

    /// Decoding only the rows' ends (coverage's peers) gives the full decoding's ends, and
    /// refuses exactly the blobs the full decoding refuses: every cut of a valid blob, and
    /// counters of more than ten varint bytes.
    @Test func rowEndsAreTheDecodedRowsEnds() throws {
        var rng = SystemRandomNumberGenerator()
        func ends(_ blob: [UInt8]) throws -> [RowEnds] {
            var out: [RowEnds] = [RowEnds(kind: .exit, proto: 1, src: 9, srcPort: 9, dst: 9, dstPort: 9)]  // cleared first
            try blob.withUnsafeBytes { try RowCodec.decodeEnds($0, into: &out) }
            return out
        }
        for _ in 0..<200 {
            let rows = Self.randomRows(&rng)
            var blob: [UInt8] = []
            RowCodec.encode(rows, into: &blob)
            #expect(try ends(blob) == rows.map(RowEnds.init))
            for cut in 1..<blob.count {
                let part = Array(blob[0..<cut])
                let full = (try? RowCodec.decode(part)).map { $0.map(RowEnds.init) }
                #expect(full == (try? ends(part)), "cut at \(cut) of \(blob)")
            }
        }
        // A counter of eleven varint bytes is corrupt for both; ten bytes are the most a varint has.
        let head: [UInt8] = [1, 0, 5, 7]  // virtual, no proto, src 5, src port 7; then dst port and four counters
        let ten = [UInt8](repeating: 0x80, count: 9) + [0x01]
        let eleven = [UInt8](repeating: 0x80, count: 10) + [0x01]
        #expect(try ends(head + [0x00, 0x00] + ten + [0, 0, 0]).count == 1)
        #expect(try RowCodec.decode(head + [0x00, 0x00] + ten + [0, 0, 0]).count == 1)
        #expect(throws: StoreError.self) { try ends(head + [0x00, 0x00] + eleven + [0, 0, 0]) }
        #expect(throws: StoreError.self) { try RowCodec.decode(head + [0x00, 0x00] + eleven + [0, 0, 0]) }
        // The same with a row after them, so that the counters are stepped over a word at a time.
        let row = [UInt8](repeating: 0, count: 9)
        #expect(try ends(head + [0x00, 0x00] + ten + [0, 0, 0] + row).count == 2)
        #expect(try RowCodec.decode(head + [0x00, 0x00] + ten + [0, 0, 0] + row).count == 2)
        #expect(throws: StoreError.self) { try ends(head + [0x00, 0x00] + eleven + [0, 0, 0] + row) }
        #expect(throws: StoreError.self) { try RowCodec.decode(head + [0x00, 0x00] + eleven + [0, 0, 0] + row) }
        #expect(throws: StoreError.self) { try ends(head + [0x00, 0x00, 0x01] + eleven + [0, 0] + row) }
        #expect(throws: StoreError.self) { try ends([9]) }
    }

    @Test func sameMessageIsStoredOnce() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        let m = Make.message(node: 1, at: 0)
        var split = m
        split.rows = [m.rows[0]]  // Same window, other content: a second message (Tailscale splits big reports).
        let stats = try store.withWriter { w in
            try w.begin()
            #expect(try w.add(m))
            #expect(try !w.add(m))
            #expect(try w.add(split))
            try w.commit()
            try w.begin()
            #expect(try !w.add(m))
            try w.commit()
            return w.stats
        }
        #expect(stats.messages == 2 && stats.duplicates == 2 && stats.rows == 4)
        let count = try store.pool.read { try Int.fetchOne($0, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") }
        #expect(count == 2)
    }

    @Test func rollupsAddUpToTheRowsAtEveryStep() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        try store.withWriter { w in
            for batch in 0..<3 {
                try w.begin()
                for i in 0..<400 {
                    // Spread over two days, several reporters, repeated conversations.
                    try w.add(Make.message(node: i % 7 + 1, at: Int64(batch * 60_000 + i * 97), rows: i % 5 + 1, bytes: Int64(i)))
                }
                try w.commit()
            }
        }
        try store.pool.read { (db: Database) throws in
            let raw = try store.rawTotals(in: db)
            #expect(raw.txBytes > 0)
            for step in RollupStep.all { #expect(try store.rollupTotals(in: db, step: step) == raw) }
            // Buckets are aligned to their step.
            for step in RollupStep.all {
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM rollups WHERE step = ? AND bucket % ? != 0", arguments: [step, step]) == 0)
            }
            let minutes = try Int.fetchOne(db, sql: "SELECT count(*) FROM rollups WHERE step = 60")!
            let hours = try Int.fetchOne(db, sql: "SELECT count(*) FROM rollups WHERE step = 3600")!
            #expect(hours < minutes)
        }
    }

    /// Many small commits (the server's group commit) append rollup parts instead of rewriting
    /// big buckets; the parts stay within a quarter of the merged sums and add up to what one big commit stores.
    @Test func smallCommitsAppendRollupPartsThatAddUpToOneBigCommit() throws {
        let dir = TempDir()
        let messages = (0..<3000).map { i in Make.message(node: i % 5 + 1, at: Int64(i * 7), rows: i % 4 + 1, bytes: Int64(i % 50)) }
        func store(_ name: String, perCommit: Int) throws -> FlowStore {
            let store = try FlowStore(path: dir.path(name))
            try store.withWriter { w in
                for chunk in stride(from: 0, to: messages.count, by: perCommit) {
                    try w.begin()
                    for m in messages[chunk..<min(chunk + perCommit, messages.count)] { try w.add(m) }
                    try w.commit()
                }
            }
            return store
        }
        let small = try store("small.db", perCommit: 5)
        let big = try store("big.db", perCommit: 3000)
        func sums(_ s: FlowStore) throws -> [String: Counters] {
            try s.pool.read { db in
                var out: [String: Counters] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT step, reporter, bucket, sums FROM rollups") {
                    for e in try RollupCodec.decode(Array(row[3] as Data)) {
                        out["\(row[0] as Int64) \(row[1] as Int64) \(row[2] as Int64) \(e.kind) \(e.src) \(e.dst) \(e.proto) \(e.port)", default: Counters()].add(e.counters)
                    }
                }
                return out
            }
        }
        let (smallSums, bigSums) = (try sums(small), try sums(big))
        #expect(smallSums == bigSums && !smallSums.isEmpty)
        try small.pool.read { (db: Database) throws in
            // Parts were appended (the day level of five reporters, commit after commit) …
            #expect(try Int.fetchOne(db, sql: "SELECT max(part) FROM rollups WHERE step = 86400")! > 0)
            // … and never hold more than a quarter of their bucket's merged keys (plus the last commit's).
            let buckets = try Row.fetchAll(db, sql: """
                SELECT sum(CASE WHEN part = 0 THEN entries ELSE 0 END), sum(CASE WHEN part > 0 THEN entries ELSE 0 END), count(*)
                FROM rollups GROUP BY step, reporter, bucket
                """)
            for b in buckets {
                let (base, added, parts) = (b[0] as Int64, b[1] as Int64, b[2] as Int64)
                #expect(parts <= 65 && (parts == 1 || added * 4 <= base + 4 * 20), "base \(base), added \(added), parts \(parts)")
            }
        }
        try big.pool.read { (db: Database) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT max(part) FROM rollups")! == 0)
        }
    }

    @Test func aVersion1StoreKeepsItsRollupsWhenMigrated() throws {
        let dir = TempDir()
        let path = dir.path("v1.db")
        do {
            let queue = try DatabaseQueue(path: path)
            try FlowStore.migrator.migrate(queue, upTo: "001_store")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO nodes (stable_id) VALUES ('n1')")
                try db.execute(sql: "INSERT INTO rollups (step, reporter, bucket, entries, sums) VALUES (60, 1, 120, 0, x'')")
            }
        }
        let store = try FlowStore(path: path)
        try store.pool.read { (db: Database) throws in
            let row = try Row.fetchOne(db, sql: "SELECT step, reporter, bucket, part, entries FROM rollups")!
            #expect(row[0] as Int64 == 60 && row[1] as Int64 == 1 && row[2] as Int64 == 120 && row[3] as Int64 == 0 && row[4] as Int64 == 0)
        }
    }

    @Test func latestReportOfANodeWinsAndNodesKeepTheirHistory() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        var early = Make.message(node: 1, at: 0)
        early.srcNode?.name = "early.example"
        var late = Make.message(node: 1, at: 3600)
        late.srcNode?.name = "late.example"
        late.dstNodes = [NodeInfo(nodeID: "n9", name: "peer.example", addresses: [Make.ip("100.64.0.9")])]
        try store.withWriter { w in
            try w.begin()
            try w.add(late)
            try w.commit()
            try w.begin()
            try w.add(early)  // Older news must not override newer.
            try w.commit()
        }
        let nodes = try store.nodes()
        let n1 = try #require(nodes.first { $0.nodeID == "n1" })
        #expect(n1.name == "late.example")
        #expect(n1.isReporter)
        #expect(n1.firstSeen == early.start && n1.lastSeen == late.start)
        let n9 = try #require(nodes.first { $0.nodeID == "n9" })
        #expect(!n9.isReporter && n9.name == "peer.example" && n9.addresses == ["100.64.0.9"])
        // A device list, imported later, is the newest report.
        try store.importNodes([NodeInfo(nodeID: "n1", name: "renamed.example", addresses: [Make.ip("100.64.0.1")])],
                              at: late.start + 1)
        #expect(try store.nodes().first { $0.nodeID == "n1" }?.name == "renamed.example")
        let owner = try store.pool.read { (db: Database) throws in
            try String.fetchOne(db, sql: """
                SELECT n.stable_id FROM node_addresses na JOIN addresses a ON a.id = na.address JOIN nodes n ON n.id = na.node
                WHERE a.ip = '100.64.0.9'
                """)
        }
        #expect(owner == "n9")
    }

    /// The writer compares a report with what it knows by bits first (reports from one decoder's
    /// cache share storage), then by value: either way the latest facts win and routes from a
    /// device list stand.
    @Test func reportsInSharedOrOtherStorageKeepRoutesAndTakeChanges() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        let listed = NodeInfo(nodeID: "n1", name: "a.example", os: "linux", tags: ["tag:x"], addresses: [Make.ip("100.64.0.1")],
                              routes: ["10.1.0.0/16"])
        try store.importNodes([listed], at: 0)
        // The same facts without routes, as a message says them: one value shared by two
        // messages (equal bits), and an equal value built anew (other storage).
        var said = listed
        said.routes = nil
        let rebuilt = NodeInfo(nodeID: String("n" + "1"), name: String("a." + "example"), os: "linux", tags: ["tag:x"],
                               addresses: [Make.ip("100.64.0.1")])
        var renamed = rebuilt
        renamed.name = "b.example"
        var messages: [FlowMessage] = []
        for (i, info) in [said, said, rebuilt, said, renamed, renamed, rebuilt].enumerated() {
            var m = Make.message(node: 2, at: Int64(i + 1) * 60)
            m.dstNodes = [info]
            messages.append(m)
        }
        func node() throws -> NodeRecord { try #require(try store.nodes().first { $0.nodeID == "n1" }) }
        try store.withWriter { w in
            try w.begin()
            for m in messages.prefix(4) { try w.add(m) }
            try w.commit()
        }
        #expect(try node().name == "a.example" && node().routes == ["10.1.0.0/16"])
        try store.withWriter { w in
            try w.begin()
            for m in messages.dropFirst(4) { try w.add(m) }
            try w.commit()
        }
        // The rename, at 5 and 6 minutes, and then the old name again at 7: the latest wins.
        let n = try node()
        #expect(n.name == "a.example" && n.routes == ["10.1.0.0/16"] && n.tags == ["tag:x"])
        try store.withWriter { w in
            try w.begin()
            var m = Make.message(node: 2, at: 8 * 60)
            m.dstNodes = [renamed]
            try w.add(m)
            try w.commit()
        }
        #expect(try node().name == "b.example" && node().routes == ["10.1.0.0/16"])
    }

    @Test func rejectsAreRecordedOnce() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        try store.withWriter { w in
            for _ in 0..<2 {
                try w.begin()
                try w.addReject(Reject(location: FlowModel.SourceLocation(source: "f.jsonl", line: 2, offset: 300), reason: "bad", excerpt: "{"))
                try w.commit()
            }
        }
        let rejects = try store.rejects(limit: 10)
        #expect(rejects.count == 1)
        #expect(rejects.first?.location.line == 2 && rejects.first?.location.offset == 300 && rejects.first?.reason == "bad")
    }

    @Test func aFailedBatchLeavesNoTrace() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("a.db"))
        try store.withWriter { w in
            try w.begin()
            try w.add(Make.message(node: 1, at: 0))
            w.rollback()
            try w.begin()
            try w.add(Make.message(node: 2, at: 0))
            try w.commit()
        }
        try store.pool.read { (db: Database) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") == 1)
            #expect(try store.rawTotals(in: db) == store.rollupTotals(in: db, step: 60))
            #expect(try String.fetchAll(db, sql: "SELECT stable_id FROM nodes") == ["n2"])
        }
    }
}

@Suite(.ownThreads)
struct RollupCodecTests {
    @Test func roundTripsAndMergesSortedRuns() throws {
        var rng = SystemRandomNumberGenerator()
        func random(_ n: Int) -> [RollupEntry] {
            var seen: Set<String> = []
            var out: [RollupEntry] = []
            for _ in 0..<n {
                let e = RollupEntry(kind: TrafficKind(rawValue: UInt8.random(in: 0...3, using: &rng))!,
                                    src: Int64.random(in: 0...50, using: &rng), dst: Int64.random(in: 0...5, using: &rng),
                                    proto: [0, 6, 17].randomElement(using: &rng)!, port: [0, 443, 65535].randomElement(using: &rng)!,
                                    side: ServiceSide(rawValue: UInt8.random(in: 0...3, using: &rng))!,
                                    counters: Counters(txPackets: Int64.random(in: 0...Int64.max, using: &rng), txBytes: 1, rxPackets: 0, rxBytes: 7))
                if seen.insert("\(e.kind) \(e.src) \(e.dst) \(e.proto) \(e.port) \(e.side)").inserted { out.append(e) }
            }
            return out.sorted()
        }
        for _ in 0..<100 {
            let a = random(Int.random(in: 0..<40, using: &rng)), b = random(Int.random(in: 0..<40, using: &rng))
            var blob: [UInt8] = []
            RollupCodec.encode(a, into: &blob)
            #expect(try RollupCodec.decode(blob) == a)
            let merged = FlowWriter.merge(a, b)
            #expect(merged == merged.sorted())
            var want: [String: Counters] = [:]
            for e in a + b { want["\(e.kind) \(e.src) \(e.dst) \(e.proto) \(e.port) \(e.side)", default: Counters()].add(e.counters) }
            #expect(merged.count == want.count)
            for e in merged { #expect(want["\(e.kind) \(e.src) \(e.dst) \(e.proto) \(e.port) \(e.side)"] == e.counters) }
        }
        #expect(throws: StoreError.self) { try RollupCodec.decode([1, 0, 0x80]) }
        #expect(throws: StoreError.self) { try RollupCodec.decode([2]) }
    }
}
